#!/bin/sh
# /init of the dump-making guest (built by GuestImage.cs, run by TestDumps.cs).
#
# One script, two roles. In the first kernel it arms a crash kernel with kexec -p, logs a
# marker and the process list, and crashes with sysrq-c. In the crash kernel (/proc/vmcore
# exists) it copies /proc/vmcore to the dump disk and powers off.
#
# Disks: /dev/vda is the read-only payload with the crash kernel, its initramfs and its command
# line (read_payload). /dev/vdb receives the vmcore at 1 MiB; its first line is written last:
# "KDSVMCORE1 <bytes> <dd exit status>".
#
# Lines starting with "KDS-" are read by the host (TestDumps.cs); keep both sides in step.

export PATH=/bin:/usr/sbin

# fail, mount_kernel_filesystems, kernel_parameter, load_modules, wait_for_disks, read_payload:
# Harness/guest-lib.sh, packed beside /init.
. /guest-lib.sh

mount_kernel_filesystems
load_modules
wait_for_disks /dev/vda /dev/vdb

if [ -e /proc/vmcore ]; then
    size=$(stat -c %s /proc/vmcore)
    echo "KDS-COPY-BEGIN $size"
    dd if=/proc/vmcore of=/dev/vdb bs=1M seek=1 conv=fsync 2>/dev/null
    status=$?
    # The header goes last, so a dump cut short has none.
    printf 'KDSVMCORE1 %s %s\n' "$size" "$status" | dd of=/dev/vdb conv=fsync 2>/dev/null || fail "writing the dump header"
    echo "KDS-COPY-END $status"
    sync
    poweroff -f
fi

marker=$(kernel_parameter kds.marker)
[ -n "$marker" ] || fail "no kds.marker= on the kernel command line"
echo "KDS-RELEASE $(uname -r)"

read_payload
kexec -p /kexec/vmlinuz --initrd=/kexec/initrd.img --append="$append" || fail "kexec -p"
[ "$(cat /sys/kernel/kexec_crash_loaded)" = 1 ] || fail "kexec -p returned but kexec_crash_loaded is not 1"
rm /kexec/vmlinuz /kexec/initrd.img

# A user process besides init, so the dump has a task with its own address space.
sleep 3600 &

echo "KDS-MARKER $marker" > /dev/kmsg
echo "KDS-PS-BEGIN"
ps -o pid,ppid,stat,comm,args
echo "KDS-PS-END"
sync
let_console_drain
echo c > /proc/sysrq-trigger
fail "still running after sysrq-c"
