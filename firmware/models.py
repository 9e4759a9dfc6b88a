"""Firmware images and the rollouts that carry them to the fleet."""

import uuid

from django.conf import settings
from django.db import models

from firmware.storage import firmware_storage  # the FileField's storage; migrations name it here
from firmware.versions import validate_version


def firmware_upload_path(instance: "FirmwareVersion", filename: str) -> str:
    return f"{instance.version}/{filename}"


class FirmwareVersion(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.CharField(max_length=32, unique=True, validators=[validate_version])
    file = models.FileField(upload_to=firmware_upload_path, storage=firmware_storage, max_length=255)
    filename = models.CharField(max_length=128)
    file_size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, unique=True)
    project_name = models.CharField(max_length=32, blank=True)
    chip = models.CharField(max_length=16, blank=True)
    idf_version = models.CharField(max_length=32, blank=True)
    release_notes = models.TextField(blank=True)
    hardware = models.CharField(max_length=64, blank=True, help_text="Target hardware; empty means every device.")
    mandatory = models.BooleanField(default=False)
    active = models.BooleanField(default=True, help_text="Offered to devices and available for rollouts.")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "firmware version"
        permissions = [("deploy_firmware", "Can deploy firmware and manage rollouts")]

    def __str__(self):
        return self.version


class RolloutStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Rollout(models.Model):
    """Deploys one firmware version to a set of devices wave by wave, pausing itself on failures."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    firmware = models.ForeignKey(FirmwareVersion, on_delete=models.PROTECT, related_name="rollouts")
    name = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16, choices=RolloutStatus.choices, default=RolloutStatus.SCHEDULED)
    target = models.JSONField(default=dict, blank=True, help_text="How the devices were chosen (ids, group, hardware).")
    wave_size = models.PositiveIntegerField(null=True, blank=True, help_text="Devices per wave.")
    wave_percent = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Or percent of targets per wave.")
    success_ratio = models.FloatField(default=0.9, help_text="Share of a wave that must succeed before the next.")
    max_failures = models.PositiveIntegerField(null=True, blank=True, help_text="Pause after this many failures.")
    max_failure_percent = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Or this % failed.")
    allow_downgrade = models.BooleanField(default=False)
    start_at = models.DateTimeField(null=True, blank=True)
    current_wave = models.PositiveIntegerField(default=0)
    wave_count = models.PositiveIntegerField(default=1)
    pause_reason = models.CharField(max_length=255, blank=True)
    accepted_wave = models.PositiveIntegerField(
        default=0, help_text="Last wave whose shortfall an operator accepted by resuming the rollout."
    )
    resumed_at = models.DateTimeField(
        null=True, blank=True, help_text="Failure thresholds count only failures after the last resume."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.name or f"Rollout of {self.firmware.version}"


class OtaState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    DOWNLOADING = "downloading", "Downloading"
    VERIFYING = "verifying", "Verifying"
    REBOOTING = "rebooting", "Rebooting"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back"
    TIMED_OUT = "timed_out", "Timed out"
    CANCELLED = "cancelled", "Cancelled"


class RolloutDevice(models.Model):
    """One device's OTA within a rollout."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="devices")
    device = models.ForeignKey("devices.Device", on_delete=models.CASCADE, related_name="rollouts")
    wave = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=16, choices=OtaState.choices, default=OtaState.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    from_version = models.CharField(max_length=32, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    command = models.ForeignKey("devices.Command", null=True, blank=True, on_delete=models.SET_NULL)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["wave", "device__device_id"]
        constraints = [models.UniqueConstraint(fields=["rollout", "device"], name="rollout_device_unique")]
        indexes = [models.Index(fields=["rollout", "state"], name="rollout_device_state_idx")]

    def __str__(self):
        return f"{self.device_id} in {self.rollout_id}: {self.state}"
