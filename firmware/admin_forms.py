"""Forms of the firmware admin: uploading an image and choosing what to deploy where."""

import re

from django import forms

from firmware.models import FirmwareVersion
from firmware.targets import TargetError, select_devices
from firmware.uploads import UploadRejected, upload_firmware
from groups.models import DeviceGroup


class FirmwareUploadForm(forms.ModelForm):
    """The admin's add form: the file and optional version go through firmware.uploads like the API's."""

    file = forms.FileField(help_text="The application .bin from the ESP-IDF build (not the .elf, not a merged image).")
    version = forms.CharField(
        required=False,
        max_length=32,
        help_text="Optional. Leave empty to use the version inside the image; if given it must match it.",
    )

    class Meta:
        model = FirmwareVersion
        fields = ["release_notes", "hardware", "mandatory"]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        cleaned = super().clean()
        if self.errors or not cleaned.get("file"):
            return cleaned
        try:
            self.instance = upload_firmware(
                cleaned["file"],
                version=cleaned.get("version") or "",
                release_notes=cleaned.get("release_notes") or "",
                mandatory=cleaned.get("mandatory", False),
                hardware=cleaned.get("hardware") or "",
                user=self.user,
            )
        except UploadRejected as rejected:
            self.add_error(rejected.field, rejected.message)
        return cleaned


class DeployForm(forms.Form):
    """Target (exactly one of devices, group, hardware) and the pacing of the waves."""

    TARGET_FIELDS = ("devices", "group", "hardware")

    devices = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Device ids (ACV-...), separated by commas, spaces or lines.",
    )
    group = forms.ModelChoiceField(queryset=DeviceGroup.objects.all(), required=False)
    hardware = forms.CharField(required=False, max_length=64, help_text="Every device reporting this hardware.")
    name = forms.CharField(required=False, max_length=128)
    wave_size = forms.IntegerField(required=False, min_value=1, help_text="Devices per wave.")
    wave_percent = forms.IntegerField(
        required=False, min_value=1, max_value=100, help_text="Or a share of the devices per wave, in percent."
    )
    success_ratio = forms.FloatField(
        initial=0.9, min_value=0.01, max_value=1.0, help_text="Share of a wave that must succeed before the next."
    )
    max_failures = forms.IntegerField(required=False, min_value=1, help_text="Pause after this many failures.")
    max_failure_percent = forms.IntegerField(
        required=False, min_value=1, max_value=100, help_text="Or pause when this share of the attempts failed."
    )
    allow_downgrade = forms.BooleanField(required=False, help_text="Also install on devices running a newer version.")
    start_at = forms.DateTimeField(
        required=False,
        help_text="UTC, e.g. 2026-12-01 02:00. Empty: start now.",
        widget=forms.DateTimeInput(attrs={"placeholder": "YYYY-MM-DD HH:MM"}),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("wave_size") and cleaned.get("wave_percent"):
            raise forms.ValidationError("Give a wave size or a wave percentage, not both.")
        device_ids = [value for value in re.split(r"[\s,;]+", cleaned.get("devices") or "") if value]
        try:
            self.devices, self.target = select_devices(
                device_ids=device_ids,
                group=cleaned.get("group") and cleaned["group"].pk,
                hardware=cleaned.get("hardware"),
            )
        except TargetError as error:
            raise forms.ValidationError(str(error)) from error
        return cleaned

    def target_fields(self):
        return [self[name] for name in self.TARGET_FIELDS]

    def pacing_fields(self):
        return [field for field in self if field.name not in self.TARGET_FIELDS]

    def rollout_options(self) -> dict:
        """Keyword arguments for firmware.rollouts.create_rollout."""
        data = self.cleaned_data
        names = ("wave_size", "wave_percent", "success_ratio", "max_failures", "max_failure_percent", "start_at")
        return {name: data.get(name) for name in names} | {
            "allow_downgrade": bool(data.get("allow_downgrade")),
            "name": data.get("name") or "",
        }
