//! A labelled table whose rule changes: the drift that updates must learn without forgetting.

/// Rows in which x1 says which regime holds: before the change (x1 < 0) the label follows
/// x2 > 0; after it (x1 > 0) the label follows x2 < 0.
pub fn table(rows: usize, after: bool, seed: u64) -> String {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut s = String::from("x1,x2,label\n");
    for _ in 0..rows {
        let x1 = uniform() * 2.0 * if after { 1.0 } else { -1.0 };
        let x2 = uniform() * 4.0 - 2.0;
        let positive = if after { x2 < 0.0 } else { x2 > 0.0 };
        s += &format!("{x1:.4},{x2:.4},{}\n", if positive { "yes" } else { "no" });
    }
    s
}
