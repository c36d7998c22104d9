//! The two directions of a relayed connection (renter ⇄ scheduler ⇄ agent ⇄
//! job), run together.
//!
//! A direction whose source ends cleanly passes the end on (a half-close) and
//! the other direction goes on. A direction that fails ends both at once:
//! the other may be blocked writing to a peer that nobody reads any more,
//! and waiting for it would hold the connection (and its tunnel) forever.

use std::{
    future::{poll_fn, Future},
    pin::pin,
    task::Poll,
};

/// How one direction of a relayed connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// Its source ended and the end was passed on.
    Finished,
    /// Its source or its destination failed: the connection is gone.
    Broken,
}

/// Drives both directions until both finish, or until either breaks; then
/// drops both. Returns `Broken` if either broke.
pub async fn both_ways(one: impl Future<Output = Leg>, other: impl Future<Output = Leg>) -> Leg {
    let (mut one, mut other) = (pin!(one), pin!(other));
    let (mut one_done, mut other_done) = (false, false);
    poll_fn(|cx| {
        if !one_done {
            match one.as_mut().poll(cx) {
                Poll::Ready(Leg::Broken) => return Poll::Ready(Leg::Broken),
                Poll::Ready(Leg::Finished) => one_done = true,
                Poll::Pending => {}
            }
        }
        if !other_done {
            match other.as_mut().poll(cx) {
                Poll::Ready(Leg::Broken) => return Poll::Ready(Leg::Broken),
                Poll::Ready(Leg::Finished) => other_done = true,
                Poll::Pending => {}
            }
        }
        if one_done && other_done {
            Poll::Ready(Leg::Finished)
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        future::pending,
        task::{Context, Waker},
    };

    fn poll_once(future: impl Future<Output = Leg>) -> Poll<Leg> {
        pin!(future).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_broken_direction_ends_the_other_even_if_it_never_would() {
        let stuck = pending::<Leg>();
        assert_eq!(
            poll_once(both_ways(stuck, async { Leg::Broken })),
            Poll::Ready(Leg::Broken)
        );
        assert_eq!(
            poll_once(both_ways(async { Leg::Broken }, pending::<Leg>())),
            Poll::Ready(Leg::Broken)
        );
    }

    #[test]
    fn a_finished_direction_waits_for_the_other() {
        assert_eq!(
            poll_once(both_ways(async { Leg::Finished }, pending::<Leg>())),
            Poll::Pending
        );
        assert_eq!(
            poll_once(both_ways(async { Leg::Finished }, async { Leg::Finished })),
            Poll::Ready(Leg::Finished)
        );
    }
}
