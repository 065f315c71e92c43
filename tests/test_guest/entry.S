/*
 * Entry points of ktvm's test guest.
 *
 *  +0x000  32-bit bzImage entry: unsupported, halts.
 *  +0x200  64-bit bzImage entry (Linux boot protocol): paging on with the
 *          loader's identity map, RSI = boot_params.
 *  pvh_start32: Xen PVH entry (32-bit, paging off, EBX = hvm_start_info);
 *          builds its own page tables and enters long mode.
 *  ap_trampoline: real-mode code the boot CPU copies below 1 MiB; APs woken
 *          by INIT-SIPI-SIPI run it straight into long mode.
 *
 * Every entry first writes the boot-timer port (after loading DX) so the VMM can time the
 * first guest instruction.
 */
#define BOOT_TIMER_PORT 0x440
#define STACK_SIZE 4096
#define MAX_CPUS 1024
/* CPUs below this get a 4 KiB stack in .bss; the rest 1 KiB each in free
 * RAM between 2 and 3 MiB (ktvm loads nothing below the image at 16 MiB
 * but the zero page, tables and command line under 1 MiB), so the image
 * stays small enough for ktvm's "tiny guest" KVM path. */
#define BSS_STACK_CPUS 16
#define LOW_STACKS 0x200000
#define LOW_STACK_SIZE 1024
#define BOOT_KIND_BZIMAGE 1
#define BOOT_KIND_PVH 2
#define BOOT_KIND_AP 3

	.section .head.text, "ax"
	.code32
	.globl startup_32
startup_32:
	movw $BOOT_TIMER_PORT, %dx
	outb %al, %dx
1:	hlt
	jmp 1b

	.org 0x200
	.code64
	.globl startup_64
startup_64:
	movw $BOOT_TIMER_PORT, %dx
	outb %al, %dx
	cli
	cld
	movq %rsi, %r12            /* boot_params */
	movl $BOOT_KIND_BZIMAGE, %r13d
	jmp common64

	.text
	.code32
	.globl pvh_start32
pvh_start32:
	movw $BOOT_TIMER_PORT, %dx
	outb %al, %dx
	cli
	cld
	movl %ebx, %esi            /* hvm_start_info, kept across the switch */
	/* Report the PVH entry on COM2 while still in 32-bit mode, so it is
	 * visible even where the switch to long mode fails. */
	movl $pvh_ok_msg, %edi
	cmpl $0x336ec578, (%ebx)   /* hvm_start_info magic */
	je 3f
	movl $pvh_bad_msg, %edi
3:	movw $0x2f8, %dx
4:	movb (%edi), %al
	testb %al, %al
	jz 5f
	outb %al, %dx
	incl %edi
	jmp 4b
5:
	/* 4 PDs of 512 x 2 MiB identity pages: the first 4 GiB, LAPIC
	 * included. */
	movl $pvh_pd, %edi
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax            /* present, writable, 2 MiB */
	movl %eax, (%edi,%ecx,8)
	movl $0, 4(%edi,%ecx,8)
	incl %ecx
	cmpl $2048, %ecx
	jne 1b
	movl $pvh_pdpt, %edi
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $12, %eax
	addl $pvh_pd, %eax
	orl $3, %eax
	movl %eax, (%edi,%ecx,8)
	movl $0, 4(%edi,%ecx,8)
	incl %ecx
	cmpl $4, %ecx
	jne 2b
	movl $pvh_pdpt, %eax
	orl $3, %eax
	movl %eax, pvh_pml4
	movl %cr4, %eax
	orl $0x20, %eax            /* PAE */
	movl %eax, %cr4
	movl $pvh_pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx     /* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	lgdt pvh_gdtr
	movl %cr0, %eax
	orl $0x80000001, %eax      /* PG | PE */
	movl %eax, %cr0
	ljmp $0x08, $pvh_long_mode

	.code64
pvh_long_mode:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %esi, %r12d
	movl $BOOT_KIND_PVH, %r13d
	jmp common64

/* r12 = boot info, r13 = boot kind. Picks a stack by APIC id, read from
 * the LAPIC: through MSR 0x802 when the VMM handed over in x2APIC mode
 * (IA32_APIC_BASE bit 10; ids above 254), else from the xAPIC MMIO page. */
common64:
	movl $0x1b, %ecx           /* IA32_APIC_BASE */
	rdmsr
	testl $0x400, %eax
	jz 1f
	movl $0x802, %ecx          /* x2APIC id */
	rdmsr
	movl %eax, %ebx
	jmp 3f
1:	movl $0xfee00020, %eax
	movl (%rax), %ebx
	shrl $24, %ebx             /* xAPIC id */
3:	movl %ebx, %r14d
	cmpl $MAX_CPUS, %r14d
	jae park
	cmpl $BSS_STACK_CPUS, %r14d
	jae 4f
	leaq stacks(%rip), %rsp
	movl %r14d, %eax
	incl %eax
	shlq $12, %rax
	addq %rax, %rsp
	jmp 5f
4:	movl %r14d, %eax
	incl %eax
	imull $LOW_STACK_SIZE, %eax
	addl $LOW_STACKS, %eax
	movq %rax, %rsp
5:	testl %r14d, %r14d
	jnz 2f
	/* Boot CPU only: clear .bss; stacks and page tables live apart in
	 * .bss.boot because they are in use. */
	leaq __bss_clear_start(%rip), %rdi
	leaq __bss_end(%rip), %rcx
	subq %rdi, %rcx
	xorl %eax, %eax
	rep stosb
2:	movq %r13, %rdi
	movq %r12, %rsi
	movl %r14d, %edx
	call guest_main
park:
	cli
	hlt
	jmp park

/* The test guest's only interrupt handler (ktvm_test=irq): saves the
 * registers C may clobber and calls irq_handler. */
	.globl irq_stub
irq_stub:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	call irq_handler
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
	iretq

/* APs arrive here from the trampoline in long mode on the BSP's tables. */
	.globl ap_entry64
ap_entry64:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %r12d, %r12d
	movl $BOOT_KIND_AP, %r13d
	jmp common64

/*
 * Real-mode AP trampoline, copied to TRAMPOLINE_ADDR (SIPI vector page).
 * Goes from real mode straight to long mode (PE and PG set together, which
 * the SDM allows with EFER.LME set). tramp_cr3 and tramp_target are patched
 * by the boot CPU.
 */
#define TRAMPOLINE_ADDR 0x8000
#define T(sym) (sym - ap_trampoline)
	.code16
	.globl ap_trampoline, ap_trampoline_end, tramp_cr3, tramp_target
	.globl tramp_arrived
ap_trampoline:
	cli
	movw %cs, %ax
	movw %ax, %ds
	/* Proof of arrival that needs nothing but real mode: count in. */
	lock incl T(tramp_arrived)
	lgdtl T(tramp_gdtr)
	movl %cr4, %eax
	orl $0x20, %eax
	movl %eax, %cr4
	movl T(tramp_cr3), %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax
	movl %eax, %cr0
	ljmpl $0x08, $(TRAMPOLINE_ADDR + T(tramp64))
	.code64
tramp64:
	movq (TRAMPOLINE_ADDR + T(tramp_target)), %rax
	jmp *%rax
	.balign 8
tramp_gdt:
	.quad 0
	.quad 0x00af9b000000ffff   /* 0x08: 64-bit code */
	.quad 0x00cf93000000ffff   /* 0x10: data */
tramp_gdtr:
	.word 3 * 8 - 1
	.long TRAMPOLINE_ADDR + T(tramp_gdt)
	.balign 8
tramp_cr3:
	.quad 0
tramp_target:
	.quad 0
tramp_arrived:
	.long 0
ap_trampoline_end:

	.section .rodata
pvh_ok_msg:
	.asciz "KTVM test-pvh-entry start_info=ok\n"
pvh_bad_msg:
	.asciz "KTVM test-pvh-entry start_info=bad\n"
	.balign 8
pvh_gdt:
	.quad 0
	.quad 0x00af9b000000ffff   /* 0x08: 64-bit code */
	.quad 0x00cf93000000ffff   /* 0x10: data */
pvh_gdtr:
	.word 3 * 8 - 1
	.long pvh_gdt

	.section .note.Xen, "a"
	.balign 4
	.long 4                    /* name size */
	.long 4                    /* descriptor size */
	.long 18                   /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.long pvh_start32

	.section .bss.boot, "aw", @nobits
	.balign 4096
pvh_pml4:
	.skip 4096
pvh_pdpt:
	.skip 4096
pvh_pd:
	.skip 4 * 4096
	.globl stacks
stacks:
	.skip STACK_SIZE * BSS_STACK_CPUS

	.section .note.GNU-stack, "", @progbits
