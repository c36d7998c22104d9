//! The natively hosted program prints its `msg!` lines on this process's
//! stdout. Commands that keep stdout for their own output (a tool may parse
//! it) duplicate the original stdout for themselves and point fd 1 elsewhere.

use std::{fs::File, io::Write};

/// Returns the original stdout; fd 1 then writes to `redirect_to`.
#[cfg(unix)]
pub fn reserve_stdout(redirect_to: &impl std::os::fd::AsRawFd) -> std::io::Result<File> {
    use std::os::fd::FromRawFd;
    std::io::stdout().flush()?;
    // SAFETY: dup/dup2 on descriptors that stay open for the life of the
    // process; the duplicate is owned by the returned File alone.
    unsafe {
        let saved = libc::dup(1);
        if saved < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::dup2(redirect_to.as_raw_fd(), 1) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(File::from_raw_fd(saved))
    }
}
