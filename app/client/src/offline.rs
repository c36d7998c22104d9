//! Offline signing, as the Solana CLI does it: a transaction whose signers
//! are on different machines is built identically on each (same
//! instructions, same `--blockhash`); each machine that holds a key signs
//! (`--sign-only` prints the signatures), and the machine that sends adds
//! the others' signatures (`--signer PUBKEY=SIGNATURE`).
//!
//! Both sides must build the same message, so an offline transaction asks
//! for no compute-unit limit from simulation (the two sides would simulate
//! at different times and differ): it runs with the runtime's default limit
//! of 200,000 units per instruction, far above what the instructions offered
//! offline need (`register_node`: an 11,000-unit estimate plus one System
//! CPI; see docs/compute-units.md).

use crate::{
    client::Client,
    error::{Error, Result},
    instructions::Instruction,
};
use anchor_lang::prelude::Pubkey;
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;
pub use solana_transaction::Hash;
use solana_transaction::{Message, Transaction};
use std::str::FromStr;

/// What the command line asked for.
#[derive(Clone, Debug, Default)]
pub struct OfflineSigning {
    /// Sign and print, send nothing.
    pub sign_only: bool,
    /// The blockhash every side signs with (needed to combine signatures).
    pub blockhash: Option<Hash>,
    /// Signatures made elsewhere.
    pub presigned: Vec<Presigned>,
}

impl OfflineSigning {
    /// Whether the transaction is signed offline (otherwise `Client::send`).
    pub fn is_offline(&self) -> bool {
        self.sign_only || self.blockhash.is_some() || !self.presigned.is_empty()
    }
}

/// A signature made elsewhere: `PUBKEY=SIGNATURE`, both base58.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presigned {
    pub pubkey: Pubkey,
    pub signature: Signature,
}

impl FromStr for Presigned {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let (pubkey, signature) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?} is not PUBKEY=SIGNATURE"))?;
        Ok(Self {
            pubkey: Pubkey::from_str(pubkey)
                .map_err(|_| format!("{pubkey:?} (before the =) is not a base58 pubkey"))?,
            signature: Signature::from_str(signature)
                .map_err(|_| format!("{signature:?} (after the =) is not a base58 signature"))?,
        })
    }
}

/// What `--sign-only` produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedOnly {
    pub blockhash: Hash,
    /// Signatures present: made here or given with `--signer`.
    pub signers: Vec<Presigned>,
    /// Signers whose signature is still missing.
    pub absent: Vec<Pubkey>,
}

/// What an offline-signed transaction became.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Offline {
    Sent(Signature),
    SignedOnly(SignedOnly),
}

impl Client {
    /// Builds `instructions` for `fee_payer` at the given or latest
    /// blockhash, signs with the `keys` held here, adds the `presigned`
    /// signatures after checking each against the message, then sends it
    /// (every signature present) or, with `sign_only`, reports it.
    pub async fn send_offline(
        &self,
        instructions: &[Instruction],
        fee_payer: &Pubkey,
        keys: &[&Keypair],
        offline: &OfflineSigning,
    ) -> Result<Offline> {
        let blockhash = match offline.blockhash {
            Some(blockhash) => blockhash,
            None => self
                .rpc()
                .get_latest_blockhash()
                .await
                .map_err(|e| self.rpc_error(e))?,
        };
        let mut all = instructions.to_vec();
        if let Some(price) = self.compute_unit_price() {
            all.push(ComputeBudgetInstruction::set_compute_unit_price(price));
        }
        let tx = sign_offline(&all, fee_payer, keys, &offline.presigned, blockhash)?;
        let signers = tx.message.signer_keys();
        let absent: Vec<Pubkey> = signers
            .iter()
            .zip(&tx.signatures)
            .filter(|(_, signature)| **signature == Signature::default())
            .map(|(pubkey, _)| **pubkey)
            .collect();
        if offline.sign_only {
            let present = signers
                .iter()
                .zip(&tx.signatures)
                .filter(|(_, signature)| **signature != Signature::default())
                .map(|(pubkey, signature)| Presigned {
                    pubkey: **pubkey,
                    signature: *signature,
                })
                .collect();
            return Ok(Offline::SignedOnly(SignedOnly {
                blockhash,
                signers: present,
                absent,
            }));
        }
        if let Some(missing) = absent.first() {
            return Err(Error::Signing(format!(
                "the transaction lacks the signature of {missing}: pass its keypair, or \
                 --signer {missing}=SIGNATURE as printed by the same command with --sign-only \
                 and the same --blockhash"
            )));
        }
        self.send_signed(&tx, &all).await.map(Offline::Sent)
    }
}

/// The transaction of `instructions` at `blockhash`, signed by `keys` and
/// carrying the `presigned` signatures, each verified against the message.
pub fn sign_offline(
    instructions: &[Instruction],
    fee_payer: &Pubkey,
    keys: &[&Keypair],
    presigned: &[Presigned],
    blockhash: Hash,
) -> Result<Transaction> {
    let message = Message::new_with_blockhash(instructions, Some(fee_payer), &blockhash);
    let mut tx = Transaction::new_unsigned(message);
    let signers: Vec<Pubkey> = tx.message.signer_keys().into_iter().copied().collect();
    let position = |pubkey: &Pubkey, what: &str| {
        signers.iter().position(|s| s == pubkey).ok_or_else(|| {
            Error::Signing(format!(
                "{pubkey} ({what}) is not a signer of this transaction; its signers are {}",
                list(&signers)
            ))
        })
    };
    for key in keys {
        let at = position(&key.pubkey(), "a keypair given")?;
        tx.signatures[at] = key.sign_message(&tx.message_data());
    }
    let message_data = tx.message_data();
    for given in presigned {
        let at = position(&given.pubkey, "given with --signer")?;
        if !given.signature.verify(given.pubkey.as_ref(), &message_data) {
            return Err(Error::Signing(format!(
                "the signature given for {} does not sign this transaction: both sides must run \
                 the same command with the same arguments and --blockhash {blockhash}",
                given.pubkey
            )));
        }
        tx.signatures[at] = given.signature;
    }
    Ok(tx)
}

fn list(keys: &[Pubkey]) -> String {
    keys.iter()
        .map(Pubkey::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_system_interface::instruction::transfer;

    #[test]
    fn signatures_made_apart_combine_into_one_valid_transaction() {
        let (owner, operator) = (Keypair::new(), Keypair::new());
        // Both must sign: a transfer from each.
        let ixs = [
            transfer(&owner.pubkey(), &operator.pubkey(), 1),
            transfer(&operator.pubkey(), &owner.pubkey(), 1),
        ];
        let blockhash = Hash::new_from_array([7; 32]);
        // The operator's machine signs only its part.
        let theirs = sign_offline(&ixs, &owner.pubkey(), &[&operator], &[], blockhash).unwrap();
        let at = theirs
            .message
            .signer_keys()
            .iter()
            .position(|k| **k == operator.pubkey())
            .unwrap();
        let given = Presigned {
            pubkey: operator.pubkey(),
            signature: theirs.signatures[at],
        };
        let parsed: Presigned = format!("{}={}", given.pubkey, given.signature)
            .parse()
            .unwrap();
        assert_eq!(parsed, given);
        // The owner's machine adds it to its own.
        let tx = sign_offline(&ixs, &owner.pubkey(), &[&owner], &[given], blockhash).unwrap();
        let data = tx.message_data();
        let keys = tx.message.signer_keys();
        assert_eq!(keys.len(), 2);
        for (key, signature) in keys.iter().zip(&tx.signatures) {
            assert!(signature.verify(key.as_ref(), &data), "{key} signed");
        }
        // Another blockhash is another message: the signature is refused.
        let other = Hash::new_from_array([8; 32]);
        let err = sign_offline(&ixs, &owner.pubkey(), &[&owner], &[given], other).unwrap_err();
        assert!(
            err.to_string().contains("does not sign this transaction"),
            "{err}"
        );
        // A stranger's key is named as no signer.
        let stranger = Keypair::new();
        let err = sign_offline(&ixs, &owner.pubkey(), &[&stranger], &[], blockhash).unwrap_err();
        assert!(err.to_string().contains("is not a signer"), "{err}");
    }

    #[test]
    fn malformed_signer_arguments_say_which_half_is_wrong() {
        assert!("abc"
            .parse::<Presigned>()
            .unwrap_err()
            .contains("PUBKEY=SIGNATURE"));
        let key = Pubkey::new_unique();
        let err = format!("{key}=notasig").parse::<Presigned>().unwrap_err();
        assert!(err.contains("after the ="), "{err}");
        let err = "x=y".parse::<Presigned>().unwrap_err();
        assert!(err.contains("before the ="), "{err}");
    }
}
