//! A cdylib for the native-stack tests, built with v0 symbol mangling.
//!
//! `rustcrash_run(callback, mode)` goes through `engine::gears::grind` and a generic method
//! `engine::Crank<u32>::turn` to call a Python ctypes callback; the callback calls
//! `rustcrash_detonate(mode)`, which aborts (mode 1) or writes through NULL (mode 0) in
//! `engine::gears::detonate`.

pub mod engine {
    pub struct Crank<T> {
        pub teeth: T,
    }

    impl<T: Copy + Into<u64>> Crank<T> {
        #[inline(never)]
        pub fn turn(&self, callback: extern "C" fn(i32) -> i32, mode: i32) -> i32 {
            let result = callback(mode);
            std::hint::black_box(self.teeth.into());
            result
        }
    }

    pub mod gears {
        #[inline(never)]
        pub fn grind(callback: extern "C" fn(i32) -> i32, mode: i32) -> i32 {
            let crank = super::Crank { teeth: std::hint::black_box(12u32) };
            let result = crank.turn(callback, mode);
            std::hint::black_box(result)
        }

        #[inline(never)]
        pub fn detonate(mode: i32) {
            if mode == 1 {
                std::process::abort();
            }
            let target: *mut i32 = std::hint::black_box(std::ptr::null_mut());
            unsafe { std::ptr::write_volatile(target, 7) };
        }
    }
}

#[no_mangle]
pub extern "C" fn rustcrash_run(callback: extern "C" fn(i32) -> i32, mode: i32) -> i32 {
    engine::gears::grind(callback, mode)
}

#[no_mangle]
pub extern "C" fn rustcrash_detonate(mode: i32) {
    engine::gears::detonate(mode);
}
