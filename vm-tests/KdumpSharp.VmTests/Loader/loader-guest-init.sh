#!/bin/sh
# /init of the kds-loader test guest (built by LoaderGuest.cs, run by LoaderVmTests.cs).
#
# First kernel, by kds.scenario=:
#   reboot: reads the payload disk /dev/vda (the layout guest-init.sh reads: header line
#           "KDSPAYLOAD1 <kernel bytes> <initramfs bytes>", an --append line, the kernel at 4 KiB,
#           the initramfs at the next 4 KiB boundary); kds-loader load + exec --force; the second
#           kernel (kds.marker2= on its command line) boots this same initramfs and prints its
#           release and command line.
#   crash:  kds-loader crash load with no kernel and no --initrd, as an administrator would: it
#           loads /boot's kernel with our crash initramfs, built from /etc/kdumpsharp/capture.conf
#           (the ext4 disk /dev/vda); status before and after, /proc/iomem as KDS-IOMEM lines,
#           marker to the kernel log, sysrq-c; kds-capture, the crash kernel's /init, saves the
#           dump onto /dev/vda and reboots.
#   corrupt: reads the payload disk as reboot does; kds-loader load --syscall classic with the --debug-corrupt-segment test hook, then
#           exec --force; the purgatory must refuse with one serial line and never boot it.
# kds.syscall= (file or classic, default file) picks kds-loader's --syscall for every load.
#
# Lines starting with "KDS-" are read by the host (LoaderVmTests.cs); keep both sides in step.

export PATH=/bin:/usr/sbin:/usr/bin
# No diagnostics IPC socket for kds-loader: there is nothing to attach to it here.
export DOTNET_EnableDiagnostics=0

fail() {
    echo "KDS-FAIL: $*"
    poweroff -f
}

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
# kds-loader status reads the lockdown mode from securityfs.
mount -t securityfs securityfs /sys/kernel/security || fail "mount securityfs"
# /var/lib: kds-loader caches the crash initramfs it builds in /var/lib/kdumpsharp.
mkdir -p /tmp /var/lib

scenario=
marker=
marker2=
syscall=file
corrupt=
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        kds.scenario=*) scenario="${arg#kds.scenario=}" ;;
        kds.marker=*) marker="${arg#kds.marker=}" ;;
        kds.marker2=*) marker2="${arg#kds.marker2=}" ;;
        kds.syscall=*) syscall="${arg#kds.syscall=}" ;;
        kds.corrupt=*) corrupt="${arg#kds.corrupt=}" ;;
    esac
done

if [ -n "$marker2" ]; then
    echo "KDS-SECOND-KERNEL $(uname -r)"
    echo "KDS-CMDLINE $(cat /proc/cmdline)"
    poweroff -f
fi
[ -n "$marker" ] || fail "no kds.marker= on the kernel command line"
echo "KDS-RELEASE $(uname -r)"

while read -r module; do
    insmod "$module" || fail "insmod $module"
done < /etc/kds/modules
tries=0
while [ ! -b /dev/vda ]; do
    tries=$((tries + 1))
    [ "$tries" -gt 100 ] && fail "virtio disk /dev/vda did not appear"
    sleep 0.1
done

# The payload disk's kernel and initramfs, for the scenarios that load a kernel they are given.
read_payload() {
    { read -r magic kernel_size initrd_size; read -r append; } < /dev/vda
    [ "$magic" = KDSPAYLOAD1 ] || fail "payload disk header is '$magic'"
    mkdir -p /kexec
    dd if=/dev/vda bs=4096 skip=1 count=$(((kernel_size + 4095) / 4096)) 2>/dev/null | head -c "$kernel_size" > /kexec/vmlinuz
    dd if=/dev/vda bs=4096 skip=$((1 + (kernel_size + 4095) / 4096)) count=$(((initrd_size + 4095) / 4096)) 2>/dev/null \
        | head -c "$initrd_size" > /kexec/initrd.img
    [ "$(stat -c %s /kexec/vmlinuz)" = "$kernel_size" ] || fail "read $(stat -c %s /kexec/vmlinuz) of $kernel_size kernel bytes"
    [ "$(stat -c %s /kexec/initrd.img)" = "$initrd_size" ] || fail "read $(stat -c %s /kexec/initrd.img) of $initrd_size initramfs bytes"
}

kds-loader status
echo "KDS-STATUS-BEFORE $?"

case "$scenario" in
    reboot)
        read_payload
        # Refusals first: nothing is loaded yet, and this guest reserves no crash memory.
        kds-loader exec --force
        echo "KDS-EXEC-UNLOADED-EXIT $?"
        kds-loader crash load --syscall "$syscall" /kexec/vmlinuz --initrd /kexec/initrd.img
        echo "KDS-CRASH-UNRESERVED-EXIT $?"
        # Load, unload, load again: unload must free the image whichever way it was loaded.
        kds-loader load --syscall "$syscall" /kexec/vmlinuz --initrd /kexec/initrd.img --append "kds.marker2=unloaded"
        echo "KDS-FIRST-LOAD-EXIT $?"
        kds-loader unload
        echo "KDS-UNLOAD-EXIT $?"
        echo "KDS-AFTER-UNLOAD $(cat /sys/kernel/kexec_loaded)"
        kds-loader load --syscall "$syscall" /kexec/vmlinuz --initrd /kexec/initrd.img --append "kds.marker2=$marker $append"
        echo "KDS-LOAD-EXIT $?"
        echo "KDS-KEXEC-LOADED $(cat /sys/kernel/kexec_loaded)"
        kds-loader exec --force
        fail "kds-loader exec --force returned $?"
        ;;
    crash)
        kds-loader crash load --syscall "$syscall"
        echo "KDS-LOAD-EXIT $?"
        kds-loader status
        echo "KDS-STATUS-AFTER $?"
        echo "KDS-JSON $(kds-loader crash status --json)"
        kds-loader crash unload
        echo "KDS-UNLOAD-EXIT $?"
        kds-loader crash status > /dev/null
        echo "KDS-STATUS-UNLOADED $?"
        # The second load reuses the cached crash initramfs.
        kds-loader crash load --syscall "$syscall"
        echo "KDS-RELOAD-EXIT $?"
        [ "$(cat /sys/kernel/kexec_crash_loaded)" = 1 ] || fail "kexec_crash_loaded is not 1 after crash load"
        sed 's/^/KDS-IOMEM /' /proc/iomem
        echo "KDS-MARKER $marker" > /dev/kmsg
        sync
        echo c > /proc/sysrq-trigger
        fail "still running after sysrq-c"
        ;;
    corrupt)
        read_payload
        kds-loader load --syscall classic --debug-corrupt-segment "$corrupt" /kexec/vmlinuz --initrd /kexec/initrd.img \
            --append "kds.marker2=$marker"
        echo "KDS-LOAD-EXIT $?"
        kds-loader exec --force
        fail "kds-loader exec --force returned $?"
        ;;
    *)
        fail "unknown kds.scenario='$scenario'"
        ;;
esac
