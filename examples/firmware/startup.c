/* Reset and fault handlers for the Cortex-M4F under QEMU (-M mps2-an386), with newlib's semihosting
 * (rdimon) for output. Linked with -nostartfiles: this file is the whole C runtime start-up.
 * Order on reset: enable the FPU (before any floating-point instruction), zero .bss, paint the stack,
 * open the semihosting handles, run main, exit through semihosting (QEMU stops). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

extern uint32_t __bss_start__, __bss_end__, __stack_bottom, __stack_top;
extern void initialise_monitor_handles(void);
extern int main(void);

#define STACK_PAINT 0xdeadbeefu

/* Stack bytes used so far: the painted words main's deepest call overwrote (from the bottom up). */
uint32_t firmware_stack_used(void) {
  const uint32_t* word = &__stack_bottom;
  while (word < &__stack_top && *word == STACK_PAINT) ++word;
  return (uint32_t)((const uint8_t*)&__stack_top - (const uint8_t*)word);
}

void Reset_Handler(void) {
  /* CPACR (0xE000ED88) bits 20-23: full access to coprocessors 10 and 11 (the FPU). */
  *(volatile uint32_t*)0xE000ED88u |= 0xfu << 20;
  __asm volatile("dsb\n\tisb" ::: "memory");
  for (volatile uint32_t* word = &__bss_start__; word < &__bss_end__; ++word) *word = 0;
  /* Paint the stack below the current frame (keeping 64 bytes of margin). */
  uint32_t* sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  for (volatile uint32_t* word = &__stack_bottom; word < sp - 16; ++word) *word = STACK_PAINT;
  initialise_monitor_handles();
  exit(main());
}

/* The heap is the linker script's HEAP_SIZE block, nothing more: newlib-nano's stdio takes a few hundred
 * bytes of it on the first semihosting write(); the classifier never allocates. */
extern char __heap_start, __heap_end;
static char* heap_break = &__heap_start;

void* _sbrk(ptrdiff_t increment) {
  if (increment < 0 || increment > &__heap_end - heap_break) {
    errno = ENOMEM;
    return (void*)-1;
  }
  char* previous = heap_break;
  heap_break += increment;
  return previous;
}

uint32_t firmware_heap_used(void) { return (uint32_t)(heap_break - &__heap_start); }

static void fault(const char* what) {
  int length = 0;
  while (what[length]) ++length;
  write(2, what, length);
  exit(3);
}

void HardFault_Handler(void) { fault("firmware: hard fault\n"); }
void MemManage_Handler(void) { fault("firmware: memory management fault\n"); }
void BusFault_Handler(void) { fault("firmware: bus fault\n"); }
void UsageFault_Handler(void) { fault("firmware: usage fault\n"); }
void Default_Handler(void) { fault("firmware: unexpected interrupt\n"); }

/* The vector table at address 0: initial stack pointer, reset, then the system exceptions. */
__attribute__((section(".vectors"), used)) static void (*const vector_table[16])(void) = {
    (void (*)(void))(uintptr_t)&__stack_top, /* 0: initial stack pointer */
    Reset_Handler,                           /* 1: reset */
    Default_Handler,                         /* 2: NMI */
    HardFault_Handler,                       /* 3 */
    MemManage_Handler,                       /* 4 */
    BusFault_Handler,                        /* 5 */
    UsageFault_Handler,                      /* 6 */
    0,                                       /* 7-10: reserved */
    0,
    0,
    0,
    Default_Handler, /* 11: SVCall */
    Default_Handler, /* 12: debug monitor */
    0,               /* 13: reserved */
    Default_Handler, /* 14: PendSV */
    Default_Handler, /* 15: SysTick */
};
