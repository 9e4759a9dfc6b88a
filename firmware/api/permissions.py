"""The Django permissions the firmware endpoints demand; the admin checks the same ones, so roles agree.

Views list them per HTTP method in `required_permissions`, enforced by the project's
acuvim_console.core.api.permissions.PROTECTED classes.
"""

VIEW_FIRMWARE = "firmware.view_firmwareversion"
ADD_FIRMWARE = "firmware.add_firmwareversion"
CHANGE_FIRMWARE = "firmware.change_firmwareversion"
DELETE_FIRMWARE = "firmware.delete_firmwareversion"
VIEW_ROLLOUT = "firmware.view_rollout"
DEPLOY_FIRMWARE = "firmware.deploy_firmware"
