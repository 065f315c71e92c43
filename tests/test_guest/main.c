/*
 * ktvm's test guest: a few hundred instructions of freestanding C that
 * exercise what the VMM provides. The boot CPU prints to COM1, sends
 * control lines on COM2 (the ktvm control protocol: "KTVM <event> k=v"),
 * counts CPUs in the MP table, wakes the other CPUs with INIT-SIPI-SIPI
 * (unless the VMM already started them: ktvm_smp=vmm), waits for them, and
 * then acts on ktvm_test=<action> from the command line:
 *   exit (default)  report test-done, then reset through the i8042
 *   spin            every CPU spins forever, bumping its counter
 *   triple_fault    load an empty IDT and raise an exception
 *   i8042_reset     pulse the reset line without reporting done
 *   port_flood      100000 writes to one unknown port, then done
 *   unknown_io      a write to every port no device claims and one per MiB
 *                   of the 32-bit MMIO hole, then done
 *   silent          prints nothing at all: cli, then a loop with no exits
 *   cli_spin        interrupts off, spins without hlt (never parks itself)
 *   cli_wait        like cli_spin on the boot CPU until the host writes a
 *                   non-zero release word (spin_counters[MAX_CPUS - 1]),
 *                   then done; the other CPUs spin
 * Guests under emulation run ~1.4 M instructions/s: keep loops short.
 */
#include <stdint.h>

#define BOOT_KIND_BZIMAGE 1
#define BOOT_KIND_PVH 2
#define BOOT_KIND_AP 3
#define MAX_CPUS 16
#define COM1 0x3f8
#define COM2 0x2f8
#define LAPIC_BASE 0xfee00000ULL
#define LAPIC_ICR_LOW 0x300
#define LAPIC_ICR_HIGH 0x310
#define TRAMPOLINE_ADDR 0x8000
#define BOOT_PARAMS_CMD_LINE_PTR 0x228
#define PVH_CMDLINE_PADDR 16

extern char ap_trampoline[], ap_trampoline_end[], tramp_cr3[], tramp_target[],
    tramp_arrived[];
extern void ap_entry64(void);

/* .data, so it is valid before the boot CPU clears .bss. */
static volatile uint32_t bsp_ready __attribute__((section(".data"))) = 0;
static volatile uint32_t cpus_up;
static volatile uint32_t print_lock;
/* Read by the host to see every CPU make progress. */
volatile uint64_t spin_counters[MAX_CPUS];

static inline void outb(uint16_t port, uint8_t v) {
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline void pause(void) { __asm__ volatile("pause"); }

static void lock(void) {
  while (__atomic_exchange_n(&print_lock, 1, __ATOMIC_ACQUIRE)) pause();
}
static void unlock(void) { __atomic_store_n(&print_lock, 0, __ATOMIC_RELEASE); }

static void putc_port(uint16_t port, char c) {
  /* THR empty; ktvm's UART is always ready, a real one may not be. */
  while (!(inb(port + 5) & 0x20)) pause();
  outb(port, (uint8_t)c);
}
static void puts_port(uint16_t port, const char *s) {
  while (*s) putc_port(port, *s++);
}
static void putu_port(uint16_t port, uint64_t v, int base) {
  char buf[24];
  int n = 0;
  do {
    uint64_t d = v % base;
    buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    v /= base;
  } while (v);
  if (base == 16) puts_port(port, "0x");
  while (n) putc_port(port, buf[--n]);
}

static int starts_with(const char *s, const char *prefix) {
  while (*prefix) {
    if (*s++ != *prefix++) return 0;
  }
  return 1;
}

/* Value of "key=" in the command line, copied into out (a word). */
static int cmdline_value(const char *cmdline, const char *key, char *out,
                         int out_len) {
  const char *p = cmdline;
  while (p && *p) {
    while (*p == ' ') p++;
    if (starts_with(p, key)) {
      const char *v = p;
      while (*v && *v != '=') v++;
      if (*v == '=') {
        int n = 0;
        v++;
        while (*v && *v != ' ' && n < out_len - 1) out[n++] = *v++;
        out[n] = 0;
        return 1;
      }
    }
    while (*p && *p != ' ') p++;
  }
  return 0;
}

static int streq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

/* Counts enabled processors in the MP table the VMM put in the BIOS area. */
static int mp_table_cpus(void) {
  for (uint64_t a = 0xf0000; a < 0x100000; a += 16) {
    const uint8_t *fp = (const uint8_t *)a;
    if (fp[0] != '_' || fp[1] != 'M' || fp[2] != 'P' || fp[3] != '_') continue;
    uint8_t sum = 0;
    for (int i = 0; i < 16; i++) sum += fp[i];
    if (sum != 0) return -1;
    const uint8_t *table = (const uint8_t *)(uint64_t)*(const uint32_t *)(fp + 4);
    const uint16_t length = *(const uint16_t *)(table + 4);
    const uint16_t entries = *(const uint16_t *)(table + 34);
    sum = 0;
    for (int i = 0; i < length; i++) sum += table[i];
    if (sum != 0) return -2;
    const uint8_t *e = table + 44;
    int cpus = 0;
    for (int i = 0; i < entries; i++) {
      if (e[0] == 0) {
        if (e[3] & 1) cpus++;
        e += 20;
      } else {
        e += 8;
      }
    }
    return cpus;
  }
  return 0;
}

static void lapic_write(uint32_t reg, uint32_t v) {
  *(volatile uint32_t *)(LAPIC_BASE + reg) = v;
}

static void delay(int n) {
  for (volatile int i = 0; i < n; i++) pause();
}

static void start_aps_with_sipi(void) {
  uint64_t cr3;
  __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
  uint8_t *dst = (uint8_t *)TRAMPOLINE_ADDR;
  for (const char *s = ap_trampoline; s < ap_trampoline_end; s++) *dst++ = *s;
  *(uint64_t *)(TRAMPOLINE_ADDR + (tramp_cr3 - ap_trampoline)) = cr3;
  *(uint64_t *)(TRAMPOLINE_ADDR + (tramp_target - ap_trampoline)) =
      (uint64_t)ap_entry64;
  /* INIT to all but self, then two STARTUPs at vector 0x08 (0x8000). */
  lapic_write(LAPIC_ICR_HIGH, 0);
  lapic_write(LAPIC_ICR_LOW, 0x000c4500);
  delay(100);
  lapic_write(LAPIC_ICR_LOW, 0x000c4600 | (TRAMPOLINE_ADDR >> 12));
  delay(20);
  lapic_write(LAPIC_ICR_LOW, 0x000c4600 | (TRAMPOLINE_ADDR >> 12));
}

/* The guest never loads an IDT: the VMM's boot IDT has limit 0, so the
 * #UD cannot be delivered, nor can the #DF that follows: a triple fault. */
static void triple_fault(void) { __asm__ volatile("ud2"); }

/* Ports with a device behind them (or a reset/console side effect). */
static int claimed_port(uint32_t port) {
  return (port >= 0x20 && port <= 0x21) || (port >= 0x40 && port <= 0x43) ||
         (port >= 0x60 && port <= 0x64) || (port >= 0xa0 && port <= 0xa1) ||
         (port >= 0x2f8 && port <= 0x2ff) || (port >= 0x3f8 && port <= 0x3ff) ||
         (port >= 0xcf8 && port <= 0xcff) || port == 0x440;
}

static void port_flood(void) {
  for (int i = 0; i < 100000; i++) outb(0x1234, (uint8_t)i);
}

static void unknown_io(void) {
  for (uint32_t port = 0; port <= 0xffff; port++) {
    if (!claimed_port(port)) outb((uint16_t)port, 0);
  }
  /* The hole below the IOAPIC holds no device: every write is unknown. */
  for (uint64_t a = 0xc0000000ULL; a < 0xfec00000ULL; a += 1 << 20) {
    *(volatile uint32_t *)a = 0x6b74766d;
  }
}

/* Interrupts off and no exiting instruction: only the VMM's kick can stop
 * this vCPU. */
static void __attribute__((noreturn)) cli_spin(uint32_t cpu) {
  __asm__ volatile("cli");
  for (;;) spin_counters[cpu]++;
}

/* No exits until the host sets the release word (a plain RAM write). */
static void cli_wait_for_release(void) {
  __asm__ volatile("cli");
  while (spin_counters[MAX_CPUS - 1] == 0) spin_counters[0]++;
  puts_port(COM2, "KTVM test-released\n");
}

static void spin(uint32_t cpu) {
  for (;;) {
    spin_counters[cpu]++;
    pause();
  }
}

static void ap_main(uint32_t apic_id) {
  while (!bsp_ready) pause();
  lock();
  puts_port(COM1, "ktvm test guest: vCPU ");
  putu_port(COM1, apic_id, 10);
  puts_port(COM1, " up\n");
  unlock();
  /* Counted only after printing, so the boot CPU's "N of M up" (and its
   * reset) never overtakes an AP's line. */
  __atomic_fetch_add(&cpus_up, 1, __ATOMIC_SEQ_CST);
  spin(apic_id);
}

void guest_main(uint64_t boot_kind, uint64_t info, uint32_t apic_id) {
  if (boot_kind == BOOT_KIND_AP || apic_id != 0) ap_main(apic_id);
  cpus_up = 1;
  bsp_ready = 1;
  const char *cmdline = "";
  if (boot_kind == BOOT_KIND_BZIMAGE && info) {
    cmdline = (const char *)(uint64_t)*(const uint32_t *)(info +
                                                          BOOT_PARAMS_CMD_LINE_PTR);
  } else if (boot_kind == BOOT_KIND_PVH && info) {
    cmdline = (const char *)*(const uint64_t *)(info + PVH_CMDLINE_PADDR);
  }
  char action[32] = "exit";
  cmdline_value(cmdline, "ktvm_test", action, sizeof(action));
  if (streq(action, "silent")) cli_spin(0);
  const char *entry = boot_kind == BOOT_KIND_PVH ? "pvh" : "bzimage";
  lock();
  puts_port(COM1, "ktvm test guest: hello from vCPU 0 via the ");
  puts_port(COM1, entry);
  puts_port(COM1, " entry\nktvm test guest: command line: ");
  puts_port(COM1, cmdline);
  putc_port(COM1, '\n');
  unlock();
  puts_port(COM2, "KTVM test-hello entry=");
  puts_port(COM2, entry);
  puts_port(COM2, " counters=");
  putu_port(COM2, (uint64_t)spin_counters, 16);
  putc_port(COM2, '\n');

  char smp[16] = "sipi";
  cmdline_value(cmdline, "ktvm_smp", smp, sizeof(smp));

  int expected = mp_table_cpus();
  if (expected < 1) expected = 1;
  if (expected > MAX_CPUS) expected = MAX_CPUS;
  if (expected > 1 && streq(smp, "sipi")) start_aps_with_sipi();
  /* Bounded wait: ~1 s of emulated instructions at most. */
  for (int i = 0; i < 200000 && (int)cpus_up < expected; i++) pause();

  lock();
  puts_port(COM1, "ktvm test guest: ");
  putu_port(COM1, cpus_up, 10);
  puts_port(COM1, " of ");
  putu_port(COM1, (uint64_t)expected, 10);
  puts_port(COM1, " vCPUs up\n");
  unlock();
  puts_port(COM2, "KTVM test-smp up=");
  putu_port(COM2, cpus_up, 10);
  puts_port(COM2, " expected=");
  putu_port(COM2, (uint64_t)expected, 10);
  puts_port(COM2, " method=");
  puts_port(COM2, smp);
  if (expected > 1 && streq(smp, "sipi")) {
    /* APs that ran the trampoline's first instructions in real mode. */
    puts_port(COM2, " sipi_arrived=");
    putu_port(COM2,
              *(volatile uint32_t *)(TRAMPOLINE_ADDR +
                                     (tramp_arrived - ap_trampoline)),
              10);
  }
  putc_port(COM2, '\n');

  puts_port(COM2, "KTVM test-action action=");
  puts_port(COM2, action);
  putc_port(COM2, '\n');
  if (streq(action, "spin")) {
    spin(0);
  } else if (streq(action, "triple_fault")) {
    triple_fault();
  } else if (streq(action, "i8042_reset")) {
    outb(0x64, 0xfe);
  } else if (streq(action, "cli_spin")) {
    cli_spin(0);
  } else {
    if (streq(action, "cli_wait")) cli_wait_for_release();
    if (streq(action, "port_flood")) port_flood();
    if (streq(action, "unknown_io")) unknown_io();
    puts_port(COM2, "KTVM test-done\n");
    lock();
    puts_port(COM1, "ktvm test guest: done, resetting through the i8042\n");
    unlock();
    outb(0x64, 0xfe);
  }
  for (;;) __asm__ volatile("cli; hlt");
}
