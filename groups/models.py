"""Device groups: how operators organise a fleet by site or building and act on it at once."""

import uuid

from django.db import models


class DeviceGroup(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "device group"

    def __str__(self):
        return self.name
