//! Not written yet (issue 7): this file exists so the bench target builds.
fn main() {}
