/*
 * ktvm's test guest: a few hundred instructions of freestanding C that
 * exercise what the VMM provides. The boot CPU prints to COM1, sends
 * control lines on COM2 (the ktvm control protocol: "KTVM <event> k=v"),
 * counts CPUs in the ACPI MADT (types 0 and 9) and the MP table, wakes the
 * other CPUs with INIT-SIPI-SIPI (unless the VMM already started them:
 * ktvm_smp=vmm), waits for them, reports which APIC ids checked in, and
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
 *                   non-zero release word (spin_counters[RELEASE_SLOT]),
 *                   then done; the other CPUs spin
 *   irq             routes COM2's IRQ 3 through the IOAPIC to this CPU,
 *                   enables the UART's THR-empty interrupt, takes it with
 *                   an IDT handler (LAPIC EOI), reports the count, then done
 * Guests under emulation run ~1.4 M instructions/s: keep loops short.
 * APs with ids from QUIET_CPUS on check in at once (state in .data, which
 * the boot CPU does not clear) and halt: hundreds of vCPUs spinning while
 * they wait would starve the boot CPU on a few host cores. Only APs below
 * QUIET_CPUS wait for the boot CPU, print (unless there are more than
 * QUIET_CPUS CPUs) and take part in the spin actions.
 */
#include <stdint.h>

#define BOOT_KIND_BZIMAGE 1
#define BOOT_KIND_PVH 2
#define BOOT_KIND_AP 3
#define MAX_CPUS 1024
#define QUIET_CPUS 16
/* cli_wait's release word: the host writes counters + 8 * 15 (what was the
 * last slot when the guest had 16 CPUs). */
#define RELEASE_SLOT 15
#define MSR_APIC_BASE 0x1b
#define MSR_X2APIC_ICR 0x830
#define APIC_BASE_X2APIC (1u << 10)
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
extern void irq_stub(void);

/* .data, so it is valid before the boot CPU clears .bss. */
static volatile uint32_t bsp_ready __attribute__((section(".data"))) = 0;
static volatile uint32_t aps_up __attribute__((section(".data"))) = 0;
/* One bit per APIC id that checked in (the boot CPU's included). */
static volatile uint64_t ids_seen[MAX_CPUS / 64]
    __attribute__((section(".data"))) = {0};
static volatile uint32_t print_lock;
/* Set by the boot CPU before bsp_ready: what the APs do once up. */
static volatile uint32_t aps_quiet;
static volatile uint32_t aps_spin;
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

static uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}
static void wrmsr(uint32_t msr, uint64_t v) {
  __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v),
                   "d"((uint32_t)(v >> 32)));
}
static int x2apic_mode(void) {
  return (rdmsr(MSR_APIC_BASE) & APIC_BASE_X2APIC) != 0;
}

static uint8_t byte_sum(const uint8_t *p, uint32_t n) {
  uint8_t sum = 0;
  for (uint32_t i = 0; i < n; i++) sum += p[i];
  return sum;
}

/* Counts enabled processors in the ACPI MADT: RSDP in the BIOS area ->
 * XSDT -> "APIC"; local APIC (type 0) and local x2APIC (type 9) entries.
 * Negative when a checksum is wrong, 0 when there is no MADT. */
static int madt_cpus(void) {
  for (uint64_t a = 0xe0000; a < 0x100000; a += 16) {
    const uint8_t *rsdp = (const uint8_t *)a;
    if (!starts_with((const char *)rsdp, "RSD PTR ")) continue;
    if (byte_sum(rsdp, 36) != 0) return -1;
    const uint8_t *xsdt = (const uint8_t *)*(const uint64_t *)(rsdp + 24);
    const uint32_t xlen = *(const uint32_t *)(xsdt + 4);
    if (byte_sum(xsdt, xlen) != 0) return -2;
    for (uint32_t off = 36; off + 8 <= xlen; off += 8) {
      const uint8_t *t = (const uint8_t *)*(const uint64_t *)(xsdt + off);
      if (!starts_with((const char *)t, "APIC")) continue;
      const uint32_t len = *(const uint32_t *)(t + 4);
      if (byte_sum(t, len) != 0) return -3;
      int cpus = 0;
      for (uint32_t e = 44; e + 2 <= len && t[e + 1] != 0; e += t[e + 1]) {
        if (t[e] == 0 && (*(const uint32_t *)(t + e + 4) & 1)) cpus++;
        if (t[e] == 9 && (*(const uint32_t *)(t + e + 8) & 1)) cpus++;
      }
      return cpus;
    }
    return 0;
  }
  return 0;
}

static void mark_seen(uint32_t apic_id) {
  if (apic_id < MAX_CPUS) {
    __atomic_fetch_or(&ids_seen[apic_id / 64], 1ULL << (apic_id % 64),
                      __ATOMIC_SEQ_CST);
  }
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
  /* INIT to all but self, then two STARTUPs at vector 0x08 (0x8000). In
   * x2APIC mode the ICR is one MSR and the MMIO page is gone. */
  const uint32_t init = 0x000c4500;
  const uint32_t startup = 0x000c4600 | (TRAMPOLINE_ADDR >> 12);
  if (x2apic_mode()) {
    wrmsr(MSR_X2APIC_ICR, init);
    delay(100);
    wrmsr(MSR_X2APIC_ICR, startup);
    delay(20);
    wrmsr(MSR_X2APIC_ICR, startup);
    return;
  }
  lapic_write(LAPIC_ICR_HIGH, 0);
  lapic_write(LAPIC_ICR_LOW, init);
  delay(100);
  lapic_write(LAPIC_ICR_LOW, startup);
  delay(20);
  lapic_write(LAPIC_ICR_LOW, startup);
}

#define IOAPIC_BASE 0xfec00000ULL
#define IRQ_VECTOR 0x33
#define COM2_IRQ 3
#define UART_IER 1
#define UART_IIR 2
#define UART_IER_THRI 0x02
#define LAPIC_SVR 0xf0
#define LAPIC_EOI 0xb0
#define MSR_X2APIC_SVR 0x80f
#define MSR_X2APIC_EOI 0x80b

struct idt_gate {
  uint16_t offset_low;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attr;
  uint16_t offset_mid;
  uint32_t offset_high;
  uint32_t reserved;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));
static volatile uint32_t irq_count;

static void ioapic_write(uint32_t index, uint32_t value) {
  *(volatile uint32_t *)IOAPIC_BASE = index;
  *(volatile uint32_t *)(IOAPIC_BASE + 0x10) = value;
}

static void lapic_eoi(void) {
  if (x2apic_mode()) {
    wrmsr(MSR_X2APIC_EOI, 0);
  } else {
    lapic_write(LAPIC_EOI, 0);
  }
}

/* Called from irq_stub. Reading IIR acknowledges THR-empty; disabling the
 * interrupt drops the line, so it fires exactly once per enable. */
void irq_handler(void) {
  (void)inb(COM2 + UART_IIR);
  outb(COM2 + UART_IER, 0);
  irq_count++;
  lapic_eoi();
}

/* COM2's pin -> IRQ_VECTOR at this CPU, through whichever IOAPIC answers at
 * 0xfec00000 (KVM's, or ktvm's with a split irqchip). */
static void irq_test(uint32_t apic_id) {
  uint16_t cs;
  __asm__ volatile("mov %%cs, %0" : "=r"(cs));
  const uint64_t handler = (uint64_t)irq_stub;
  struct idt_gate *g = &idt[IRQ_VECTOR];
  g->offset_low = (uint16_t)handler;
  g->selector = cs;
  g->ist = 0;
  g->type_attr = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
  g->offset_mid = (uint16_t)(handler >> 16);
  g->offset_high = (uint32_t)(handler >> 32);
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) idtr = {sizeof(idt) - 1, (uint64_t)idt};
  __asm__ volatile("lidt %0" : : "m"(idtr));
  /* The 8259s (absent with a split irqchip) must not deliver IRQ 3 too. */
  outb(0x21, 0xff);
  outb(0xa1, 0xff);
  if (x2apic_mode()) {
    wrmsr(MSR_X2APIC_SVR, 0x1ff);
  } else {
    lapic_write(LAPIC_SVR, 0x1ff);
  }
  /* Edge, active high, fixed delivery, physical destination = this CPU
   * (bits 8-14 of an x2APIC id go to RTE bits 49-55). */
  ioapic_write(0x10 + 2 * COM2_IRQ + 1,
               ((apic_id & 0xff) << 24) | (((apic_id >> 8) & 0x7f) << 17));
  ioapic_write(0x10 + 2 * COM2_IRQ, IRQ_VECTOR);
  outb(COM2 + UART_IER, UART_IER_THRI);
  __asm__ volatile("sti");
  for (int i = 0; i < 200000 && irq_count == 0; i++) pause();
  __asm__ volatile("cli");
  outb(COM2 + UART_IER, 0);
  ioapic_write(0x10 + 2 * COM2_IRQ, 1u << 16); /* masked again */
  puts_port(COM2, "KTVM test-irq count=");
  putu_port(COM2, irq_count, 10);
  puts_port(COM2, " vector=");
  putu_port(COM2, IRQ_VECTOR, 16);
  puts_port(COM2, " apic_id=");
  putu_port(COM2, apic_id, 10);
  putc_port(COM2, '\n');
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
  while (spin_counters[RELEASE_SLOT] == 0) spin_counters[0]++;
  puts_port(COM2, "KTVM test-released\n");
}

static void spin(uint32_t cpu) {
  for (;;) {
    spin_counters[cpu]++;
    pause();
  }
}

static void ap_main(uint32_t apic_id) {
  const int talkative = apic_id < QUIET_CPUS;
  if (talkative) {
    while (!bsp_ready) pause();
    if (!aps_quiet) {
      lock();
      puts_port(COM1, "ktvm test guest: vCPU ");
      putu_port(COM1, apic_id, 10);
      puts_port(COM1, " up\n");
      unlock();
    }
  }
  mark_seen(apic_id);
  /* Counted only after printing, so the boot CPU's "N of M up" (and its
   * reset) never overtakes an AP's line. */
  __atomic_fetch_add(&aps_up, 1, __ATOMIC_SEQ_CST);
  if (talkative && aps_spin) spin(apic_id);
  for (;;) __asm__ volatile("cli; hlt");
}

void guest_main(uint64_t boot_kind, uint64_t info, uint32_t apic_id) {
  if (boot_kind == BOOT_KIND_AP || apic_id != 0) ap_main(apic_id);
  mark_seen(apic_id);
  const char *cmdline = "";
  if (boot_kind == BOOT_KIND_BZIMAGE && info) {
    cmdline = (const char *)(uint64_t)*(const uint32_t *)(info +
                                                          BOOT_PARAMS_CMD_LINE_PTR);
  } else if (boot_kind == BOOT_KIND_PVH && info) {
    cmdline = (const char *)*(const uint64_t *)(info + PVH_CMDLINE_PADDR);
  }
  char action[32] = "exit";
  cmdline_value(cmdline, "ktvm_test", action, sizeof(action));
  const int madt = madt_cpus();
  const int mp = mp_table_cpus();
  int expected = madt > 0 ? madt : mp;
  if (expected < 1) expected = 1;
  if (expected > MAX_CPUS) expected = MAX_CPUS;
  aps_quiet = expected > QUIET_CPUS;
  aps_spin = streq(action, "spin") || streq(action, "cli_spin") ||
             streq(action, "cli_wait") || streq(action, "silent");
  bsp_ready = 1;
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

  if (expected > 1 && streq(smp, "sipi")) start_aps_with_sipi();
  /* Bounded wait: ~1 s of emulated instructions, more with many APs (they
   * share the host's cores with this loop). */
  const int64_t wait = 200000 + 2000 * (int64_t)expected;
  for (int64_t i = 0; i < wait && (int)aps_up + 1 < expected; i++) pause();
  const uint32_t cpus_up = aps_up + 1;

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
  /* Which ids checked in: every one of 0..expected-1 exactly when
   * seen == expected and max_id == expected - 1. */
  uint32_t seen = 0, max_id = 0;
  for (uint32_t id = 0; id < MAX_CPUS; id++) {
    if (ids_seen[id / 64] & (1ULL << (id % 64))) {
      seen++;
      max_id = id;
    }
  }
  puts_port(COM2, "KTVM test-apic x2apic=");
  putu_port(COM2, (uint64_t)x2apic_mode(), 10);
  puts_port(COM2, " madt_cpus=");
  putu_port(COM2, (uint64_t)(int64_t)madt, 10);
  puts_port(COM2, " mp_cpus=");
  putu_port(COM2, (uint64_t)(int64_t)mp, 10);
  puts_port(COM2, " seen=");
  putu_port(COM2, seen, 10);
  puts_port(COM2, " max_id=");
  putu_port(COM2, max_id, 10);
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
    if (streq(action, "irq")) irq_test(apic_id);
    if (streq(action, "unknown_io")) unknown_io();
    puts_port(COM2, "KTVM test-done\n");
    lock();
    puts_port(COM1, "ktvm test guest: done, resetting through the i8042\n");
    unlock();
    outb(0x64, 0xfe);
  }
  for (;;) __asm__ volatile("cli; hlt");
}
