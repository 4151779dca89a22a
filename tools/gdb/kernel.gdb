# SPDX-License-Identifier: MIT
# Attach gdb to a kernel that `make debug` started (QEMU -s -S: stopped
# at the first instruction, gdb stub on localhost:1234).
#
#   gdb -x tools/gdb/kernel.gdb        (make debug runs this for you)
#
# The CPU starts in 32-bit protected mode and switches to long mode in
# boot/boot.S. gdb is told up front that the target is x86-64 (otherwise
# it rejects the 64-bit register file after the switch), and the first
# stop uses a hardware breakpoint, which does not depend on the page
# tables in force when it is planted.
set pagination off
set confirm off
set architecture i386:x86-64
file build/kernel/kernel.elf
target remote localhost:1234
hbreak kernel_main
continue
echo \nStopped in kernel_main on the boot CPU. Symbols are loaded; try:\n
echo   break selftest_run / continue / bt / info threads (one per vCPU)\n
