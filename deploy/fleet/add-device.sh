#!/bin/sh
# Adds a device to the fleet broker: its password (mosquitto_passwd) and the group task topics it may read.
# usage: add-device.sh DEVICE_ID [GROUP...]   (password from $DEVICE_PASSWORD, else a random one is printed)
# Files: $PASSWD_FILE (default /etc/mosquitto/became/passwd), $ACL_FILE (default /etc/mosquitto/became/acl).
# Then: kill -HUP $(pidof mosquitto), and on the device BECAME__BROKER__USERNAME=DEVICE_ID,
# BECAME__BROKER__PASSWORD=..., BECAME__GROUPS__0=GROUP...
set -eu
[ $# -ge 1 ] || { echo "usage: $0 DEVICE_ID [GROUP...]" >&2; exit 2; }
id=$1; shift
passwd_file=${PASSWD_FILE:-/etc/mosquitto/became/passwd}
acl_file=${ACL_FILE:-/etc/mosquitto/became/acl}
valid() { printf '%s' "$1" | grep -Eq '^[A-Za-z0-9._-]{1,128}$'; }
valid "$id" || { echo "$0: '$id' is not a device id (letters, digits, '.', '_', '-')" >&2; exit 2; }
[ "$id" != groups ] || { echo "$0: 'groups' cannot be a device id: became/groups/ holds the group tasks" >&2; exit 2; }
for g in "$@"; do valid "$g" || { echo "$0: '$g' is not a group name (letters, digits, '.', '_', '-')" >&2; exit 2; }; done
if grep -q "^user $id\$" "$acl_file" 2>/dev/null; then echo "$0: $id is in $acl_file already" >&2; exit 2; fi

password=${DEVICE_PASSWORD:-}
if [ -z "$password" ]; then
    password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    echo "password for $id: $password"
fi
[ -f "$passwd_file" ] || { touch "$passwd_file"; chmod 600 "$passwd_file"; }
mosquitto_passwd -b "$passwd_file" "$id" "$password"
{
    echo "user $id"
    for g in "$@"; do echo "topic read became/groups/$g/tasks/#"; done
} >> "$acl_file"
