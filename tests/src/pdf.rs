//! PDFs built for the tests that a hostile uploader would send.

use std::io::Write;

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A one-page PDF of a few kilobytes whose `streams` object streams each hold one array of
/// `zeros` integers, after `padding` bytes of an ordinary stream: a parser unpacks it into
/// millions of objects.
pub fn object_stream_bomb(streams: usize, zeros: usize, padding: usize) -> Vec<u8> {
    let mut bodies: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>".to_vec(),
    ];
    // Bytes that weigh without unpacking (a scanned image's, say): a digest stream of them.
    let mut filler = Vec::with_capacity(padding + 32);
    let mut seed = [0u8; 32];
    while filler.len() < padding {
        seed = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(seed)).into();
        filler.extend_from_slice(&seed);
    }
    filler.truncate(padding);
    let mut image = format!("<< /Length {padding} >>\nstream\n").into_bytes();
    image.extend(&filler);
    image.extend(b"\nendstream");
    bodies.push(image);
    let array = format!("[{}]", "0 ".repeat(zeros));
    for n in 0..streams {
        let held = format!("{} 0 ", 100 + n);
        let data = deflate(format!("{held}{array}").as_bytes());
        let mut body = format!(
            "<< /Type /ObjStm /N 1 /First {} /Filter /FlateDecode /Length {} >>\nstream\n",
            held.len(),
            data.len()
        )
        .into_bytes();
        body.extend(&data);
        body.extend(b"\nendstream");
        bodies.push(body);
    }
    let mut pdf = b"%PDF-1.5\n".to_vec();
    let mut offsets = Vec::new();
    for (n, body) in bodies.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend(format!("{} 0 obj\n", n + 1).as_bytes());
        pdf.extend(body);
        pdf.extend(b"\nendobj\n");
    }
    let xref = pdf.len();
    pdf.extend(format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1).as_bytes());
    for offset in &offsets {
        pdf.extend(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            offsets.len() + 1
        )
        .as_bytes(),
    );
    pdf
}
