# Functions shared by the /init scripts of the busybox test guests (guest-init.sh,
# loader-guest-init.sh, demo-guest-init.sh, the makedumpfile crash image and the bench's
# realistic guest). BusyboxInitramfs.AddInit puts this file at /guest-lib.sh beside /init, and
# each /init sources it with ". /guest-lib.sh" after setting PATH. It only defines functions, so
# each script keeps its own steps and their order. busybox ash runs it: POSIX sh only.
#
# Lines starting with "KDS-" are read by the host; keep both sides in step.

# A failed guest must end QEMU rather than hang until the host's timeout; the host reports the line.
fail() {
    echo "KDS-FAIL: $*"
    poweroff -f
}

# A panic loses what the serial port has not sent yet: what init writes to the console waits in the
# tty's transmit buffer (up to 4 KiB, ~0.4 s at 115200 baud), and the panic path flushes only kernel
# messages. Without this wait a fresh-cache run lost the KDS-PS-END line after ps's listing.
let_console_drain() {
    sleep 1
}

# Nothing is mounted when the kernel starts an initramfs /init.
mount_kernel_filesystems() {
    mount -t proc proc /proc || fail "mount /proc"
    mount -t sysfs sysfs /sys || fail "mount /sys"
    mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
}

# Prints the value of kernel command line parameter $1 (from "$1=value"), the last one when it
# is given twice as the kernel's own parameters go; nothing when it is absent.
kernel_parameter() {
    kernel_parameter_value=
    for kernel_parameter_word in $(cat /proc/cmdline); do
        case "$kernel_parameter_word" in
            "$1"=*) kernel_parameter_value="${kernel_parameter_word#"$1"=}" ;;
        esac
    done
    printf '%s\n' "$kernel_parameter_value"
}

# The module files in load order, as BusyboxInitramfs.AddModules lists them from modules.dep on
# the host. busybox insmod decompresses .ko.xz itself after the kernel refuses it in finit_module.
load_modules() {
    while read -r module; do
        insmod "$module" || fail "insmod $module"
    done < /etc/kds/modules
}

# Waits for each block device node named: virtio_blk probes its disks after insmod returns. 30 s
# in all, since the probe is slow under TCG on a loaded host; a missing disk still fails.
wait_for_disks() {
    wait_for_disks_tries=0
    for wait_for_disks_node in "$@"; do
        while [ ! -b "$wait_for_disks_node" ]; do
            wait_for_disks_tries=$((wait_for_disks_tries + 1))
            [ "$wait_for_disks_tries" -gt 300 ] && fail "disk $wait_for_disks_node did not appear (waited for: $*)"
            sleep 0.1
        done
    done
}

# Reads the payload disk /dev/vda that GuestImage.WritePayloadDisk writes: the header line
# "KDSPAYLOAD1 <kernel bytes> <initramfs bytes>", a command line for that kernel (left in
# $append), the kernel at 4 KiB and the initramfs at the next 4 KiB boundary. Leaves them in
# /kexec/vmlinuz and /kexec/initrd.img.
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
