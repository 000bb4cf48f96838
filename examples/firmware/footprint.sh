#!/bin/sh
# footprint.sh ELF: the firmware's memory footprint from arm-none-eabi-size, checked against the targets
# (flash <= 64 KB for code + weights, RAM <= 96 KB). flash = text + data (the test cells, section .cells,
# are listed apart: they are test data, not part of a deployment); RAM = data + bss (the arena is a static
# array in .bss) + the heap block (newlib's stdio) + the stack block.
set -eu
elf=$1
arm-none-eabi-size "$elf"
arm-none-eabi-size -A "$elf" | awk '
  $1 == ".vectors" || $1 == ".text" || $1 == ".ARM.exidx" { code += $2 }
  $1 == ".cells" { cells = $2 }
  $1 == ".data"  { data = $2 }
  $1 == ".bss"   { bss = $2 }
  $1 == ".heap"  { heap = $2 }
  $1 == ".stack" { stack = $2 }
  END {
    flash = code + data; ram = data + bss + heap + stack
    printf "flash: %d bytes = code+const %d + data %d (target <= 65536: %s); test cells %d more bytes (total %d)\n", \
           flash, code, data, flash <= 65536 ? "ok" : "OVER", cells, flash + cells
    printf "RAM:   %d bytes = data %d + bss %d (arena included) + heap %d + stack %d (target <= 98304: %s)\n", \
           ram, data, bss, heap, stack, ram <= 98304 ? "ok" : "OVER"
    exit (flash <= 65536 && ram <= 98304) ? 0 : 1
  }'
