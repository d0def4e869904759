#!/bin/sh
# /init of the kds-loader test guest (built by LoaderGuest.cs, run by LoaderVmTests.cs).
#
# First kernel, by kds.scenario=:
#   reboot: reads the payload disk /dev/vda (read_payload: a kernel, its initramfs and an
#           --append line); kds-loader load + exec --force; the second kernel (kds.marker2= on its
#           command line) boots this same initramfs and prints its release and command line.
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

# fail, mount_kernel_filesystems, kernel_parameter, load_modules, wait_for_disks, read_payload:
# Harness/guest-lib.sh, packed beside /init.
. /guest-lib.sh

mount_kernel_filesystems
# kds-loader status reads the lockdown mode from securityfs.
mount -t securityfs securityfs /sys/kernel/security || fail "mount securityfs"
# /var/lib: kds-loader caches the crash initramfs it builds in /var/lib/kdumpsharp.
mkdir -p /tmp /var/lib

scenario=$(kernel_parameter kds.scenario)
marker=$(kernel_parameter kds.marker)
marker2=$(kernel_parameter kds.marker2)
syscall=$(kernel_parameter kds.syscall)
syscall=${syscall:-file}
corrupt=$(kernel_parameter kds.corrupt)

if [ -n "$marker2" ]; then
    echo "KDS-SECOND-KERNEL $(uname -r)"
    echo "KDS-CMDLINE $(cat /proc/cmdline)"
    poweroff -f
fi
[ -n "$marker" ] || fail "no kds.marker= on the kernel command line"
echo "KDS-RELEASE $(uname -r)"

load_modules
wait_for_disks /dev/vda

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
        let_console_drain
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
