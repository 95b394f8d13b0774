#!/bin/sh
# Adds an operator account (fleet status, publish, pull, infer, rollback): reads everything, writes tasks and requests.
# usage: add-operator.sh NAME   (password from $OPERATOR_PASSWORD, else a random one is printed); files as add-device.sh.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 NAME" >&2; exit 2; }
name=$1
passwd_file=${PASSWD_FILE:-/etc/mosquitto/became/passwd}
acl_file=${ACL_FILE:-/etc/mosquitto/became/acl}
printf '%s' "$name" | grep -Eq '^[A-Za-z0-9._-]{1,128}$' || { echo "$0: '$name' is not a user name" >&2; exit 2; }
if grep -q "^user $name\$" "$acl_file" 2>/dev/null; then echo "$0: $name is in $acl_file already" >&2; exit 2; fi
password=${OPERATOR_PASSWORD:-}
if [ -z "$password" ]; then
    password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    echo "password for $name: $password"
fi
[ -f "$passwd_file" ] || { touch "$passwd_file"; chmod 600 "$passwd_file"; }
mosquitto_passwd -b "$passwd_file" "$name" "$password"
cat >> "$acl_file" <<ACL
user $name
topic read became/#
topic write became/+/tasks/#
topic write became/+/cmd/#
topic write became/+/models/pull
topic write became/+/infer
topic write became/groups/+/tasks/#
topic read \$SYS/#
ACL
