//! What every eBPF program of this crate needs around it: a panic handler (the
//! verifier proves none is reached) and the licence section the kernel reads.

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// The kernel refuses programs that use GPL-only helpers without a GPL-compatible licence.
#[link_section = "license"]
#[no_mangle]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
