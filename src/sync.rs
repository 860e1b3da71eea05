//! The one policy for poisoned locks: go on with the data.
//!
//! A lock is poisoned when a thread panicked while holding it. Every
//! critical section in Tessera leaves its data whole after each step (one
//! insert, remove or replace; one counter moved), so what a panicking
//! holder left behind is still valid data. Refusing it would turn one
//! panicked request into a node that answers nothing until restarted.
//! Take locks through these functions, never `lock().unwrap()`.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

pub fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_lock_poisoned_by_a_panic_still_gives_its_data() {
        let shared = Arc::new((Mutex::new(1), RwLock::new(2)));
        let poisoner = shared.clone();
        let panicked = std::thread::spawn(move || {
            let _mutex = poisoner.0.lock().unwrap();
            let _rwlock = poisoner.1.write().unwrap();
            panic!("a request panicked");
        })
        .join();
        assert!(panicked.is_err() && shared.0.is_poisoned() && shared.1.is_poisoned());
        *lock(&shared.0) += 1;
        *write(&shared.1) += 1;
        assert_eq!((*lock(&shared.0), *read(&shared.1)), (2, 3));
    }
}
