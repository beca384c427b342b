//! The printable voucher page: the voucher's facts and a QR code of its verification code,
//! rendered here as inline SVG so printing needs nothing from outside.

use qrcode::{render::svg, QrCode};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use crate::{dto::loans::VoucherDto, error::ApiError};

/// Text for HTML: every character that could open markup is escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// The QR code of `text` as an inline `<svg>` element.
pub fn qr_svg(text: &str) -> Result<String, ApiError> {
    let code = QrCode::new(text.as_bytes()).map_err(ApiError::internal)?;
    let image = code.render::<svg::Color>().min_dimensions(160, 160).build();
    // An inline element must not carry the XML declaration of a standalone file.
    Ok(match image.find("<svg") {
        Some(start) => image[start..].to_owned(),
        None => image,
    })
}

pub fn render(dto: &VoucherDto) -> Result<String, ApiError> {
    let v = &dto.voucher;
    let approvals: String = v
        .approvals
        .iter()
        .map(|a| {
            format!(
                "<tr><td>{}</td><td>{}{}</td><td>{}</td></tr>",
                escape(&a.step),
                a.decided_by,
                a.on_behalf_of
                    .map(|o| format!(" (代 / on behalf of {o})"))
                    .unwrap_or_default(),
                time(a.decided_at)
            )
        })
        .collect();
    let evidence: String = dto
        .return_photos
        .iter()
        .map(|p| {
            format!(
                "<tr><td>归还照片 / return photo</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                escape(&p.name),
                time(p.taken_at),
                escape(&p.sha256)
            )
        })
        .chain(dto.copies.iter().map(|c| {
            format!(
                "<tr><td>副本 / copy{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                if c.marked { " (已标记 / marked)" } else { "" },
                c.file_id,
                time(c.handed_out_at),
                escape(&c.sha256)
            )
        }))
        .collect();
    let evidence = if evidence.is_empty() {
        String::new()
    } else {
        format!(
            "<h2>凭据 / Evidence</h2>\n<table><tr><th>类别 / Kind</th><th>文件 / File</th>\
             <th>时间 / At</th><th>SHA-256</th></tr>{evidence}</table>"
        )
    };
    let signature = match &dto.signature {
        Some(s) => format!(
            "{} · {} · {}<br><code>{}</code>",
            s.signed_by,
            escape(&s.method),
            time(s.signed_at),
            escape(&s.digest)
        ),
        None => "未签收 / not signed yet".to_owned(),
    };
    Ok(format!(
        r#"<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>借阅凭证 {number}</title>
<style>body{{font-family:sans-serif;max-width:48em;margin:2em auto}}th{{text-align:left;padding-right:1em}}
td{{padding-right:1em}}.qr{{float:right}}@media print{{button{{display:none}}}}</style></head>
<body>
<div class="qr">{qr}<div>{code}</div></div>
<h1>借阅凭证 / Loan voucher</h1>
<table>
<tr><th>凭证号 / Voucher</th><td>{number}</td></tr>
<tr><th>申请号 / Request</th><td>{request}</td></tr>
<tr><th>借阅人 / Borrower</th><td>{borrower} ({username})</td></tr>
<tr><th>档案 / Archive</th><td>{archive_code} 《{title}》 · {classification}</td></tr>
<tr><th>方式 / Loan type</th><td>{loan_type}</td></tr>
<tr><th>用途 / Purpose</th><td>{purpose}</td></tr>
<tr><th>出借 / Checked out</th><td>{checked_out_at} · {archivist}</td></tr>
<tr><th>应还 / Due</th><td>{due_at}</td></tr>
<tr><th>签收 / Signature</th><td>{signature}</td></tr>
<tr><th>核验码 / Verification code</th><td><strong>{code}</strong></td></tr>
</table>
<h2>审批 / Approvals</h2>
<table><tr><th>步骤 / Step</th><th>审批人 / Approver</th><th>时间 / At</th></tr>{approvals}</table>
{evidence}
<button onclick="window.print()">打印 / Print</button>
</body></html>
"#,
        number = escape(&v.voucher_number),
        qr = qr_svg(&dto.verification_code)?,
        code = escape(&dto.verification_code),
        request = escape(&v.request_number),
        borrower = escape(&v.borrower.display_name),
        username = escape(&v.borrower.username),
        archive_code = escape(&v.archive.archive_code),
        title = escape(&v.archive.title),
        classification = v.archive.classification,
        loan_type = v.loan_type,
        purpose = escape(&v.purpose),
        checked_out_at = time(v.checked_out_at),
        archivist = escape(&v.checked_out_by.display_name),
        due_at = time(v.due_at),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            escape(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn the_qr_code_is_an_inline_svg() {
        let svg = qr_svg("3F2A-9C1B-0011-2233").unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.ends_with("</svg>"));
    }
}
