#!/bin/sh
# /init of the dump-making guest (built by GuestImage.cs, run by TestDumps.cs).
#
# One script, two roles. In the first kernel it arms a crash kernel with kexec -p, logs a
# marker and the process list, and crashes with sysrq-c. In the crash kernel (/proc/vmcore
# exists) it copies /proc/vmcore to the dump disk and powers off.
#
# Disks: /dev/vda is the read-only payload (header lines "KDSPAYLOAD1 <kernel bytes>
# <initramfs bytes>" and the crash kernel's command line, then the kernel at 4 KiB and the
# initramfs at the next 4 KiB boundary). /dev/vdb receives the vmcore at 1 MiB; its first line
# is written last: "KDSVMCORE1 <bytes> <dd exit status>".
#
# Lines starting with "KDS-" are read by the host (TestDumps.cs); keep both sides in step.

export PATH=/bin:/usr/sbin

fail() {
    echo "KDS-FAIL: $*"
    poweroff -f
}

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"

# Module files in load order, resolved from modules.dep on the host. busybox insmod
# decompresses .ko.xz itself after the kernel refuses it in finit_module.
while read -r module; do
    insmod "$module" || fail "insmod $module"
done < /etc/kds/modules

# virtio_blk probes the disks after insmod returns; wait up to 10 s for both nodes.
tries=0
while [ ! -b /dev/vda ] || [ ! -b /dev/vdb ]; do
    tries=$((tries + 1))
    [ "$tries" -gt 100 ] && fail "virtio disks /dev/vda and /dev/vdb did not appear"
    sleep 0.1
done

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

marker=
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        kds.marker=*) marker="${arg#kds.marker=}" ;;
    esac
done
[ -n "$marker" ] || fail "no kds.marker= on the kernel command line"
echo "KDS-RELEASE $(uname -r)"

{ read -r magic kernel_size initrd_size; read -r append; } < /dev/vda
[ "$magic" = KDSPAYLOAD1 ] || fail "payload disk header is '$magic'"
mkdir -p /kexec
dd if=/dev/vda bs=4096 skip=1 count=$(((kernel_size + 4095) / 4096)) 2>/dev/null | head -c "$kernel_size" > /kexec/vmlinuz
dd if=/dev/vda bs=4096 skip=$((1 + (kernel_size + 4095) / 4096)) count=$(((initrd_size + 4095) / 4096)) 2>/dev/null \
    | head -c "$initrd_size" > /kexec/initrd.img
[ "$(stat -c %s /kexec/vmlinuz)" = "$kernel_size" ] || fail "read $(stat -c %s /kexec/vmlinuz) of $kernel_size kernel bytes"
[ "$(stat -c %s /kexec/initrd.img)" = "$initrd_size" ] || fail "read $(stat -c %s /kexec/initrd.img) of $initrd_size initramfs bytes"

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
echo c > /proc/sysrq-trigger
fail "still running after sysrq-c"
