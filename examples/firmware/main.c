/* The plasmo classifier on a bare-metal Cortex-M4F (QEMU -M mps2-an386): classifies the test cells compiled
 * into cells.h with the exported model (plasmo.h, made by `plasmo export --c`) and prints one line per cell
 *   cell<TAB>width x height<TAB>p_parasitized (8 decimals)
 * then the stack and heap it used. Output goes through semihosting write() (newlib rdimon), no printf:
 * numbers are formatted here. The classifier allocates nothing: its arena is a static array sized by the
 * export (newlib's stdio takes a few hundred bytes of the linker script's heap block for write()). */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "cells.h"
#include "plasmo.h"

uint32_t firmware_stack_used(void);
uint32_t firmware_heap_used(void);

/* The inference scratch: exactly what the model needs (plasmo.h), 4-byte aligned as a float array. */
static float arena[PLASMO_ARENA_BYTES / sizeof(float)];

static void put(const char* text) { write(1, text, strlen(text)); }

static void put_uint(uint32_t value) {
  char digits[12];
  int count = 0;
  do {
    digits[count++] = (char)('0' + value % 10u);
    value /= 10u;
  } while (value);
  char text[12];
  for (int i = 0; i < count; ++i) text[i] = digits[count - 1 - i];
  write(1, text, (size_t)count);
}

/* p in [0, 1] with 8 decimals: round(p * 1e8) fits in 32 bits. */
static void put_probability(float p) {
  uint32_t scaled = (uint32_t)((double)p * 1e8 + 0.5);
  put_uint(scaled / 100000000u);
  put(".");
  char text[9];
  uint32_t fraction = scaled % 100000000u;
  for (int i = 7; i >= 0; --i) {
    text[i] = (char)('0' + fraction % 10u);
    fraction /= 10u;
  }
  write(1, text, 8);
}

int main(void) {
  put("plasmo firmware: " PLASMO_MODEL_ARCH " 3x");
  put_uint(PLASMO_INPUT_SIZE);
  put("x");
  put_uint(PLASMO_INPUT_SIZE);
  put(", arena ");
  put_uint(PLASMO_ARENA_BYTES);
  put(" bytes, ");
  put_uint(FIRMWARE_CELL_COUNT);
  put(" cells\n");
  int failures = 0;
  for (int i = 0; i < FIRMWARE_CELL_COUNT; ++i) {
    const firmware_cell* cell = &firmware_cells[i];
    const float p = plasmo_classify(cell->rgb, cell->width, cell->height, arena);
    put(cell->name);
    put("\t");
    put_uint((uint32_t)cell->width);
    put("x");
    put_uint((uint32_t)cell->height);
    put("\t");
    if (p < 0.0f) {
      put("error ");
      put_uint((uint32_t)(-(int)p));
      ++failures;
    } else {
      put_probability(p);
    }
    put("\n");
  }
  put("stack used: ");
  put_uint(firmware_stack_used());
  put(" bytes, heap used (newlib stdio): ");
  put_uint(firmware_heap_used());
  put(" bytes\n");
  put(failures ? "firmware: FAILED\n" : "firmware: done\n");
  return failures ? 1 : 0;
}
