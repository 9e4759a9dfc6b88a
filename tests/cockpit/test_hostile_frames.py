"""Websockets under hostile input: paths no route matches and frames that are not what the protocol says.

An unmatched path used to raise in Channels' router (a 500 with a traceback); a frame nested thousands of
levels deep raised RecursionError inside the consumer and dropped the connection. Now an unknown path is
closed with 4404, and every bad frame gets an error message on a connection that keeps working.
"""

import json

import pytest
from asgiref.sync import async_to_sync

from acuvim_console.core.json_limits import MAX_DEPTH
from acuvim_console.operators.roles import VIEWER
from devices.cockpit.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from tests.cockpit.test_consumers import TIMEOUT, close_code_of, communicator, connect_and_snapshot, session_headers
from tests.factories import make_device, make_user

pytestmark = pytest.mark.django_db(transaction=True)

UNMATCHED_PATHS = [
    "/",
    "/ws/",
    "/ws/nothing/",
    "/ws/fleet",  # no trailing slash
    "/ws/devices/",
    "/ws/devices/\x00/",
    "/ws/devices/ACV-\x00AABBCCDDEE/",
    "/ws/devices/" + "A" * 5000 + "/",
    "/ws/devices/../../etc/passwd/",
    "/admin/",
]


@pytest.mark.parametrize("path", UNMATCHED_PATHS, ids=repr)
def test_a_path_no_route_matches_is_closed_with_4404(path, caplog):
    headers = session_headers(make_user(VIEWER))
    assert async_to_sync(close_code_of)(communicator(path, headers)) == CLOSE_NOT_FOUND
    assert not [record for record in caplog.records if record.exc_info], "no traceback is logged"


@pytest.mark.parametrize("token", ["%00", "%ED%A0%80", "A" * 5000, "a.b.c", "%FF%FE"], ids=repr)
def test_a_junk_token_in_the_query_string_is_closed_with_4401(token):
    assert async_to_sync(close_code_of)(communicator(f"/ws/fleet/?token={token}")) == CLOSE_UNAUTHENTICATED


JUNK_FRAMES = {
    "nested 100,000 levels": ("[" * 100_000 + "]" * 100_000, "nested deeper"),
    "nested just past the bound": ('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), "nested deeper"),
    "NUL in a device id": (json.dumps({"action": "follow", "device_ids": ["ACV-\x00"]}), "NUL"),
    "lone surrogate": ('{"action": "\\ud800"}', "surrogate"),
    "not JSON": ("{nope", "not valid JSON"),
    "not an object": ("[1, 2, 3]", "send a JSON object"),
    "unknown action": (json.dumps({"action": ["a", {"b": 1}]}), "unknown action"),
}


def test_junk_frames_get_an_error_and_the_connection_keeps_working():
    device = make_device()
    headers = session_headers(make_user(VIEWER))

    async def scenario():
        answers = {}
        for path in ("/ws/fleet/", f"/ws/devices/{device.device_id}/"):
            socket = communicator(path, headers)
            await connect_and_snapshot(socket)
            for label, (frame, _) in JUNK_FRAMES.items():
                await socket.send_to(text_data=frame)
                answers[path, label] = await socket.receive_json_from(timeout=TIMEOUT)
            await socket.send_to(bytes_data=b"\x00\xff binary")
            answers[path, "binary"] = await socket.receive_json_from(timeout=TIMEOUT)
            await socket.send_to(text_data='{"action": "ping"}')
            answers[path, "ping afterwards"] = await socket.receive_json_from(timeout=TIMEOUT)
            await socket.disconnect()
        return answers

    answers = async_to_sync(scenario)()
    for (path, label), answer in answers.items():
        if label == "ping afterwards":
            assert answer == {"type": "pong"}, path
            continue
        assert answer["type"] == "error", (path, label, answer)
        expected = JUNK_FRAMES[label][1] if label in JUNK_FRAMES else "send a JSON object"
        assert expected in answer["error"], (path, label, answer)
