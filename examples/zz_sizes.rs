fn main() {
    use core::mem::size_of;
    println!("Verdict {}", size_of::<ctrack::Verdict>());
    println!("Tracked {}", size_of::<ctrack::Tracked>());
    println!("Option<Handle> {}", size_of::<Option<ctrack::Handle>>());
    println!("Reason {}", size_of::<ctrack::Reason>());
    println!("Option<Reason> {}", size_of::<Option<ctrack::Reason>>());
    println!("Option<HelperDrop> {}", size_of::<Option<ctrack::HelperDrop>>());
    println!("DropReason {}", size_of::<ctrack::DropReason>());
}
