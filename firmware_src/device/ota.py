"""Over-the-air update: download with resume, verify, write the next slot, reboot, self-test, commit or roll back.

Stages as the console sees them: `downloading` (into a file on the SD card, resumed with an HTTP Range
request after a broken link), `verifying` (SHA-256 and the ESP32 app header), `writing` (copy into the
next OTA partition and `set_boot`), `rebooting`. After the reboot the new image is `pending_verify`: it
must reach the MQTT broker within `selftest_s`; then it is marked valid and the original `req` gets its
final `success`. Otherwise the previous slot is booted again and, once back online, the `req` is answered
with `error` / `rolled_back`. State lives in NVS under "ota" so it survives the reboots in between.

Only our own images move forward: one whose descriptor names another project is refused (`wrong_project`),
the running version again (`same_version`), and an older one (`downgrade`) unless the command carries
`allow_downgrade: true` (a deploy where an Admin chose to go back). The `version` parameter is checked
before anything is downloaded, and the version in the downloaded image's descriptor, which is what
would actually run, is checked again before the slot is written.
"""
# ruff: noqa: UP031, SIM105 - MicroPython code: no contextlib, %-formatting is its lightest formatter

import os

from . import appdesc, fwversion
from .backoff import Backoff
from .canonical import Sha256Stream
from .commands import CommandError
from .protocol import ErrorCode, OtaStage, OtaState, Status

CHUNK = 4096
MAX_ATTEMPTS = 8
PROGRESS_STEP = 10
HEX_DIGITS = "0123456789abcdef"


class OtaManager:
    KEY = "ota"

    def __init__(self, nvs, partitions, downloader, download_path, log, selftest_s=60.0, feed=None):
        """`download_path` is None without an SD card: the flash filesystem has no room for an image.
        `feed` (the watchdog) is called for every chunk hashed or copied."""
        self.nvs = nvs
        self.feed = feed
        self.partitions = partitions
        self.downloader = downloader
        self.download_path = download_path
        self.log = log
        self.selftest_s = selftest_s
        self.record = nvs.get(self.KEY, {"state": OtaState.VALID})
        self.job = None
        self.selftest_deadline = None
        self.reboot_requested = False

    # -- after boot --------------------------------------------------------------------------
    def boot(self, uptime_s):
        """Settle what the bootloader did with an image that was waiting for its self-test."""
        if self.record.get("state") != OtaState.PENDING_VERIFY:
            return
        target = self.record.get("target")
        if self.partitions.running_state() != OtaState.PENDING_VERIFY or self.partitions.running_version() != target:
            self.log("warning", "bootloader rolled back %s" % self.record.get("target"))
            self._rolled_back()
            return
        self.selftest_deadline = uptime_s + self.selftest_s

    def _rolled_back(self):
        record = self.record
        self._save({"state": OtaState.ROLLED_BACK, "prev": record.get("prev"), "failed": record.get("target"),
                    "req": record.get("req"), "reported": False})

    def _save(self, record):
        self.record = record
        self.nvs.set(self.KEY, record)

    def heartbeat_info(self):
        info = {"state": self.record.get("state", OtaState.VALID), "prev": self.record.get("prev")}
        if self.record.get("failed"):
            info["failed"] = self.record["failed"]
        return info

    def self_test_pending(self):
        return self.selftest_deadline is not None

    def on_mqtt_connected(self, processor):
        """MQTT reachable: the self-test passed (pending image), or a rollback can now be reported.

        Returns a one-line description of a failed update for the `ota_failed` alert, else None.
        """
        state = self.record.get("state")
        req = self.record.get("req")
        if state == OtaState.PENDING_VERIFY and self.selftest_deadline is not None:
            self.partitions.mark_valid()
            self.selftest_deadline = None
            target = self.record.get("target")
            prev = self.record.get("prev")
            self._save({"state": OtaState.VALID, "prev": prev})
            self.log("info", "self-test passed, %s marked valid" % target)
            if req:
                processor.respond(req, "ota_update", Status.SUCCESS, {"data": {"fw": target, "prev": prev}})
            return None
        if state == OtaState.ROLLED_BACK and not self.record.get("reported"):
            message = "%s failed its self-test; back on %s" % (self.record.get("failed"), self.record.get("prev"))
            if req:
                processor.respond(req, "ota_update", Status.ERROR, {"code": ErrorCode.ROLLED_BACK, "msg": message})
            record = dict(self.record)
            record["reported"] = True
            record.pop("req", None)
            self._save(record)
            return message
        return None

    def tick_selftest(self, uptime_s):
        """Returns True when the self-test deadline passed and the device must roll back."""
        if self.selftest_deadline is None or uptime_s < self.selftest_deadline:
            return False
        self.selftest_deadline = None
        self.log("error", "self-test failed: no MQTT within %.0f s, rolling back" % self.selftest_s)
        self.partitions.rollback()
        self._rolled_back()
        return True

    # -- the update job ----------------------------------------------------------------------
    def busy(self):
        return self.job is not None or self.selftest_deadline is not None

    def start(self, params, context, token):
        if self.busy():
            raise CommandError(ErrorCode.BUSY, "an update is already in progress")
        url = params.get("url")
        sha = params.get("sha256")
        size = params.get("size")
        if not isinstance(url, str) or not (url.startswith("http://") or url.startswith("https://")):
            raise CommandError(ErrorCode.INVALID_PARAM, "url must be an http(s) URL")
        if not isinstance(sha, str) or len(sha) != 64 or not all(ch in HEX_DIGITS for ch in sha.lower()):
            raise CommandError(ErrorCode.INVALID_PARAM, "sha256 must be 64 hex digits")
        if self.download_path is None:
            raise CommandError(ErrorCode.FAILED, "no SD card: the image has nowhere to go before it is verified")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
            raise CommandError(ErrorCode.INVALID_PARAM, "size must be a positive integer")
        version = params.get("version")
        if version is not None and not isinstance(version, str):
            raise CommandError(ErrorCode.INVALID_PARAM, "version must be a string")
        allow_downgrade = params.get("allow_downgrade", False)
        if not isinstance(allow_downgrade, bool):
            raise CommandError(ErrorCode.INVALID_PARAM, "allow_downgrade must be true or false")
        if version:
            refusal = self._refusal(version, allow_downgrade)
            if refusal:
                raise CommandError(*refusal)
        self.job = {
            "context": context, "url": url, "sha256": sha.lower(), "size": size, "version": version,
            "allow_downgrade": allow_downgrade, "token": token, "download": None, "attempts": 0,
            "retry_at": 0.0, "reported": -PROGRESS_STEP, "backoff": Backoff(2.0, 30.0),
        }
        if self.nvs.get("ota_sha") != self.job["sha256"]:
            self._remove_download()
            self.nvs.set("ota_sha", self.job["sha256"])

    def _refusal(self, version, allow_downgrade):
        """(code, msg) if `version` must not replace the running image, else None."""
        running = self.partitions.running_version()
        order = fwversion.compare(version, running)
        if order == 0 or version == running:
            return ErrorCode.SAME_VERSION, "version %s is already running" % version
        if allow_downgrade or order == 1:
            return None
        if order is None:
            return ErrorCode.DOWNGRADE, "cannot tell whether %s is newer than the running %s (allow_downgrade " \
                "to install it anyway)" % (version, running)
        return ErrorCode.DOWNGRADE, "%s is older than the running %s (allow_downgrade to go back)" % (version, running)

    def _remove_download(self):
        try:
            os.remove(self.download_path)
        except OSError:
            pass

    def _have_bytes(self):
        try:
            return os.stat(self.download_path)[6]
        except OSError:
            return 0

    def _feed(self):
        if self.feed is not None:
            self.feed()

    def tick(self, uptime_s, link_up):
        job = self.job
        if job is None:
            return
        try:
            self._step(job, uptime_s, link_up)
        except OSError as error:  # the SD card failed under the download or the slot would not take it
            self._remove_download()
            self._fail(ErrorCode.FAILED, "storage error: %r" % (error,))

    def _step(self, job, uptime_s, link_up):
        download = job["download"]
        if download is None:
            if link_up and uptime_s >= job["retry_at"]:
                have = self._have_bytes()
                headers = {"Authorization": "Device " + (job["token"] or "")}
                if have:
                    headers["Range"] = "bytes=%d-" % have
                job["download"] = self.downloader.start(job["url"], headers, self.download_path, have)
            return
        state = download.poll()
        self._report_download(job, download)
        if state == "running":
            if not link_up:
                download.cancel()
            return
        job["download"] = None
        if state == "done":
            self._finish(job)
            return
        job["attempts"] += 1
        self.log("warning", "download attempt %d failed: %s" % (job["attempts"], download.error))
        if job["attempts"] >= MAX_ATTEMPTS:
            self._fail(ErrorCode.DOWNLOAD_FAILED, download.error or "download failed")
            return
        job["retry_at"] = uptime_s + job["backoff"].next_delay()

    def _report_download(self, job, download):
        total = job["size"] or download.total
        if not total:
            return
        percent = min(100, int(100 * download.received / total))
        if percent >= job["reported"] + PROGRESS_STEP or (percent == 100 and job["reported"] < 100):
            job["reported"] = percent
            job["context"].progress(stage=OtaStage.DOWNLOADING, progress=percent)

    def _fail(self, code, msg):
        job = self.job
        self.job = None
        self.log("error", "OTA failed: %s %s" % (code, msg))
        job["context"].error(code, msg)

    def _finish(self, job):
        context = job["context"]
        context.progress(stage=OtaStage.VERIFYING, progress=100)
        size = self._have_bytes()
        if job["size"] is not None and size != job["size"]:
            self._remove_download()
            self._fail(ErrorCode.CHECKSUM_MISMATCH, "got %d bytes, expected %d" % (size, job["size"]))
            return
        digest = Sha256Stream()
        with open(self.download_path, "rb") as handle:
            head = handle.read(appdesc.HEADER_LEN)
            digest.update(head)
            while True:
                chunk = handle.read(CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                self._feed()
        if digest.hexdigest() != job["sha256"]:
            self._remove_download()
            self._fail(ErrorCode.CHECKSUM_MISMATCH, "SHA-256 of the download does not match")
            return
        try:
            version, project = appdesc.parse_header(head)
        except appdesc.ImageError as error:  # no descriptor, so no project name: not an image of ours
            self._remove_download()
            self._fail(ErrorCode.INVALID_IMAGE, str(error))
            return
        if project != appdesc.PROJECT_NAME:
            refusal = ErrorCode.WRONG_PROJECT, "image is for project %r, not %s" % (project, appdesc.PROJECT_NAME)
        else:
            refusal = self._refusal(version, job["allow_downgrade"])
        if refusal:
            self._remove_download()
            self._fail(*refusal)
            return
        context.progress(stage=OtaStage.WRITING, progress=100)
        writer = self.partitions.open_next()
        with open(self.download_path, "rb") as handle:
            while True:
                chunk = handle.read(CHUNK)
                if not chunk:
                    break
                writer.write(chunk)
                self._feed()
        writer.finish(version)
        self.partitions.set_boot_next()
        self._remove_download()
        self.nvs.delete("ota_sha")
        prev = self.partitions.running_version()
        self._save({"state": OtaState.PENDING_VERIFY, "req": context.req, "target": version, "prev": prev})
        context.progress(stage=OtaStage.REBOOTING, progress=100)
        self.job = None
        self.reboot_requested = True

    def rollback(self):
        """`ota_rollback`: boot the other slot if it holds a valid image; returns its version."""
        if self.busy():
            raise CommandError(ErrorCode.BUSY, "an update is in progress")
        other = self.partitions.other_version()
        if other is None:
            raise CommandError(ErrorCode.NO_PREVIOUS_IMAGE, "no valid previous image")
        current = self.partitions.running_version()
        self.partitions.boot_other()
        self._save({"state": OtaState.VALID, "prev": current})
        self.reboot_requested = True
        return other
