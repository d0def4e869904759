#!/bin/sh
# /init of the demo's first kernel (built by MainJobDemo.cs): a small machine with kds-loader in
# /usr/bin, kds-capture where a package puts it, its kernel in /boot and its modules in
# /lib/modules, and /etc/kdumpsharp/capture.conf naming the ext4 disk /dev/vda. It arms the crash
# kernel the way an administrator would (kds-loader crash load, no arguments), writes a marker
# to the kernel log and panics. Lines starting with "KDS-" are read by the host.

export PATH=/bin:/usr/sbin:/usr/bin
# No diagnostics IPC socket for kds-loader: there is nothing to attach to it here.
export DOTNET_EnableDiagnostics=0

# Through the kernel log, so each step has the kernel's timestamp on the console and is in the dump's dmesg.
step() {
    echo "KDS-STEP $*" > /dev/kmsg
}

# fail, mount_kernel_filesystems, kernel_parameter, load_modules, wait_for_disks:
# Harness/guest-lib.sh, packed beside /init.
. /guest-lib.sh

mount_kernel_filesystems
# kds-loader status reads the lockdown mode from securityfs.
mount -t securityfs securityfs /sys/kernel/security || fail "mount securityfs"
mkdir -p /tmp /var/lib

marker=$(kernel_parameter kds.marker)
[ -n "$marker" ] || fail "no kds.marker= on the kernel command line"

load_modules
wait_for_disks /dev/vda

step "kds-loader crash load: builds the crash initramfs from /etc/kdumpsharp/capture.conf"
kds-loader crash load || fail "kds-loader crash load exited with $?"
step "kds-loader crash unload, crash load: the cached image is reused"
kds-loader crash unload || fail "kds-loader crash unload exited with $?"
kds-loader crash load || fail "the second kds-loader crash load exited with $?"
step "kds-loader status"
kds-loader status || fail "kds-loader status exited with $? after crash load"
step "marker to /dev/kmsg, then echo c > /proc/sysrq-trigger"
echo "KDS-MARKER $marker" > /dev/kmsg
sync
let_console_drain
echo c > /proc/sysrq-trigger
fail "still running after sysrq-c"
