"""The command form of the device page and of the admin's bulk command action: a command with its JSON params.

The params are checked by acuvim_console.protocol.commands (through send_command), not here: one judge for the
admin, the API and the management command. This form only turns the textarea into a JSON object.
"""

from django import forms

from acuvim_console.core import json_limits
from acuvim_console.protocol.commands import OPERATOR_COMMANDS
from acuvim_console.protocol.enums import CommandName, TransportMode

# A filled-in example per command an operator may send, put into the params box when it is picked.
COMMAND_EXAMPLES: dict[str, dict] = {
    CommandName.PING: {},
    CommandName.GET_STATUS: {},
    CommandName.GET_CONFIG: {},
    CommandName.SET_CONFIG: {"intervals": {"telemetry_s": 10}},
    CommandName.RESTART: {"delay_s": 5},
    CommandName.FACTORY_RESET: {"confirm": True},
    CommandName.WIFI_SCAN: {},
    CommandName.GSM_STATUS: {},
    CommandName.SET_TRANSPORT: {"mode": TransportMode.WIFI_PREFERRED.value},
    CommandName.OTA_ROLLBACK: {},
    CommandName.MODBUS_READ: {"addr": 16384, "count": 10, "fc": 3},
    CommandName.SET_METER: {"addr": 1, "baud": 19200, "parity": "8N1"},
    CommandName.SD_STATUS: {},
    CommandName.SD_CLEAR: {"confirm": True},
    CommandName.SYNC_TIME: {},
    CommandName.GET_LOGS: {"lines": 50},
    CommandName.SET_LOG_LEVEL: {"level": "info"},
    CommandName.SET_INTERVALS: {"poll_s": 5, "telemetry_s": 5, "telemetry_gsm_s": 30, "heartbeat_s": 60},
    CommandName.CLEAR_ENERGY: {"confirm": True},
}


def parse_json_object(text: str, what: str = "params") -> dict:
    """An empty box means no params; anything else must be one JSON object."""
    if not text.strip():
        return {}
    try:
        value = json_limits.loads(text)
    except json_limits.JsonRefused as refused:
        raise forms.ValidationError(f"{what} refused: {refused.message}") from None
    if not isinstance(value, dict):
        raise forms.ValidationError(f'{what} must be a JSON object, like {{"lines": 50}}')
    return value


class CommandForm(forms.Form):
    command = forms.ChoiceField(
        choices=[(name, CommandName(name).label) for name in OPERATOR_COMMANDS],
        initial=CommandName.PING,
        help_text="ota_update is not offered: firmware goes out through Firmware versions > Deploy.",
    )
    params = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60, "class": "acv-json", "spellcheck": "false"}),
        help_text="A JSON object; the example for the chosen command is filled in for you.",
    )

    def clean_params(self):
        return parse_json_object(self.cleaned_data["params"])
