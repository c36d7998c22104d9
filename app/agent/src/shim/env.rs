//! The job's environment on its way through the shim. The agent hands it
//! over in variables named `IOMESH_JOB_ENV_<hex of the name>`, so that the
//! shim (which may run as root) and bwrap start with an environment of the
//! agent's making: a renter's LD_PRELOAD, GLIBC_TUNABLES or PATH reaches the
//! job only, never a program outside the sandbox.

use std::{
    ffi::{OsStr, OsString},
    fs::File,
    io::{self, Seek, Write},
    os::{
        fd::FromRawFd,
        unix::ffi::{OsStrExt, OsStringExt},
    },
};

pub const PREFIX: &str = "IOMESH_JOB_ENV_";

/// The variable that carries the job's variable `name` to the shim.
pub fn carrier(name: &str) -> String {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{PREFIX}{hex}")
}

/// The job's environment carried in `vars` (the shim's own), or `None` when
/// none is (a container job: the docker client keeps the agent's). Names
/// no environment can hold (empty, or with `=` or NUL) are dropped.
pub fn carried(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Option<Vec<(OsString, OsString)>> {
    let mut found = false;
    let mut env = Vec::new();
    for (name, value) in vars {
        let Some(hex) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        found = true;
        let decoded = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|b| u8::from_str_radix(b, 16).ok())
            })
            .collect::<Option<Vec<u8>>>();
        match decoded {
            Some(name) if !name.is_empty() && !name.contains(&b'=') && !name.contains(&0) => {
                env.push((OsString::from_vec(name), value))
            }
            _ => {}
        }
    }
    found.then_some(env)
}

/// `--setenv NAME VALUE` for each variable, NUL-separated for
/// `bwrap --args FD`: on bwrap's command line the renter's secrets would
/// show in /proc to every user of the machine.
pub fn setenv_args(env: &[(OsString, OsString)]) -> Vec<u8> {
    let mut args = Vec::new();
    for (name, value) in env {
        for part in [OsStr::new("--setenv"), name, value] {
            args.extend_from_slice(part.as_bytes());
            args.push(0);
        }
    }
    args
}

/// A memory file holding `bytes`, positioned at its start and left open
/// across exec (for the child to read).
pub fn inheritable_memfd(bytes: &[u8]) -> io::Result<File> {
    // SAFETY: memfd_create with a static NUL-terminated name; the new fd is
    // owned by the File below.
    let fd = unsafe { libc::memfd_create(c"iomesh-job-env".as_ptr(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and nothing else owns it.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(bytes)?;
    file.rewind()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn carries_any_name_and_drops_what_no_environment_holds() {
        let vars = [
            (carrier("LD_PRELOAD"), "/work/evil.so"),
            (carrier("weird name-ü"), "x=y"),
            (carrier("A=B"), "dropped"),
            (carrier(""), "dropped"),
            (format!("{PREFIX}zz"), "dropped"),
            ("PATH".to_string(), "/not/carried"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let env = carried(vars).unwrap();
        assert_eq!(
            env,
            [
                ("LD_PRELOAD".into(), "/work/evil.so".into()),
                ("weird name-ü".into(), "x=y".into()),
            ]
        );
        assert_eq!(carried([("PATH".into(), "/bin".into())]), None);
    }

    #[test]
    fn hands_bwrap_setenv_arguments_in_a_memory_file() {
        let args = setenv_args(&[("A".into(), "1".into()), ("B".into(), "".into())]);
        assert_eq!(args, b"--setenv\0A\x001\0--setenv\0B\0\0");
        let mut read = String::new();
        inheritable_memfd(&args)
            .unwrap()
            .read_to_string(&mut read)
            .unwrap();
        assert_eq!(read.as_bytes(), args);
    }
}
