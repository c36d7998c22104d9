//! Input generation from a seeded RNG: the same seed gives the same inputs,
//! so a finding is reproduced by its seed and case number.

use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};

pub struct Gen {
    rng: StdRng,
}

impl Gen {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.gen_range(0..n)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.rng.gen()).collect()
    }

    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.rng.fill(&mut out[..]);
        out
    }

    /// An unsigned value from the edges (0, 1, limits, powers of two) or anywhere.
    pub fn unsigned(&mut self, bits: u32) -> u128 {
        let max = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        match self.below(6) {
            0 => 0,
            1 => 1,
            2 => max,
            3 => max / 2 + 1,
            4 => 1u128 << self.below(bits as usize),
            _ => self.rng.gen::<u128>() & max,
        }
    }

    /// A signed value from the edges or anywhere.
    pub fn signed(&mut self, bits: u32) -> i128 {
        let unsigned = self.unsigned(bits) as i128;
        let shift = 128 - bits;
        // Sign-extend the low `bits` bits.
        (unsigned << shift) >> shift
    }

    /// Text: empty, ASCII, control characters, multi-byte UTF-8 or overlong.
    pub fn text(&mut self, max: usize) -> String {
        let len = self.below(max + 1);
        let alphabets: [&[char]; 4] = [
            &['a', 'Z', '0', ' ', '-', '_', '.'],
            &['\0', '\n', '\u{7f}', '"', '\\'],
            &['é', '中', '🚀', '\u{202e}'],
            &['A', '1', '/', ':'],
        ];
        let alphabet = *self.pick(&alphabets);
        (0..len).map(|_| *self.pick(alphabet)).collect()
    }

    /// Any JSON value, nested at most `depth` deep.
    pub fn json(&mut self, depth: u32) -> Value {
        let kinds = if depth == 0 { 5 } else { 7 };
        match self.below(kinds) {
            0 => Value::Null,
            1 => Value::Bool(self.chance(0.5)),
            2 => json!(self.signed(64) as i64),
            3 => json!(self.rng.gen::<f64>() * 1e20 - 5e19),
            4 => Value::String(self.text(40)),
            5 => Value::Array((0..self.below(5)).map(|_| self.json(depth - 1)).collect()),
            _ => {
                let keys = [
                    "encoding",
                    "commitment",
                    "filters",
                    "dataSlice",
                    "offset",
                    "length",
                    "memcmp",
                    "bytes",
                    "minContextSlot",
                    "limit",
                    "before",
                    "mint",
                    "programId",
                ];
                let mut map = serde_json::Map::new();
                for _ in 0..self.below(4) {
                    let key = if self.chance(0.8) {
                        self.pick(&keys).to_string()
                    } else {
                        self.text(12)
                    };
                    map.insert(key, self.json(depth - 1));
                }
                Value::Object(map)
            }
        }
    }
}
