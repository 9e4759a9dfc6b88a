from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"
    label = "groups"
    verbose_name = "Device groups"
