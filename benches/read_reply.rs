//! How long reading a typical reply takes: an Outlook reply in ISO-2022-JP with the
//! ballot quoted below it, through decoding, cutting and classifying.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mail_ballot::reading::{classify, read_message, ReadOptions};

const OUTLOOK_ISO2022JP: &[u8] =
    include_bytes!("../tests/fixtures/replies/yes-outlook-ja-iso2022jp.eml");

fn read_reply(c: &mut Criterion) {
    let opts = ReadOptions::default();
    c.bench_function("read_message outlook iso-2022-jp reply", |b| {
        b.iter(|| read_message(black_box(OUTLOOK_ISO2022JP), &opts))
    });
    let own = read_message(OUTLOOK_ISO2022JP, &opts).own_words;
    c.bench_function("classify own words", |b| {
        b.iter(|| classify(black_box(&own)))
    });
}

criterion_group!(benches, read_reply);
criterion_main!(benches);
