static OBJ: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/scanner"));
fn main() { let e = aya::Ebpf::load(OBJ); println!("{}", OBJ.len()); let _ = e; }
