"""Forms of the device list's bulk actions: a group to move devices into, a firmware version to deploy."""

from django import forms

from firmware.models import FirmwareVersion
from groups.models import DeviceGroup


class AddToGroupForm(forms.Form):
    group = forms.ModelChoiceField(queryset=DeviceGroup.objects.all(), empty_label=None)


class FirmwareChoiceForm(forms.Form):
    firmware = forms.ModelChoiceField(
        queryset=FirmwareVersion.objects.filter(active=True),
        empty_label=None,
        help_text="The next page shows who will be updated and who is skipped before anything is sent.",
    )
