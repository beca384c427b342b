#!/usr/bin/env python3
"""Writes a realistic archive catalogue as CSV files for `POST /archives/import`.

Usage: gen_archives.py OUT_DIR TOTAL [ROWS_PER_FILE]
Titles mix Chinese and English; categories are 文书/人事/会计/科技/基建; codes look like
WS-2019-Y-0042. The same seed gives the same files.
"""
import csv
import os
import random
import sys

CATEGORIES = [
    ("WS", "文书", ["会议纪要", "通知", "请示报告", "批复", "工作总结", "年度计划", "来文登记"]),
    ("RS", "人事", ["劳动合同", "人事任免", "职工档案", "工资调整", "招聘材料", "考核表", "培训记录"]),
    ("KJ", "会计", ["会计凭证", "财务报表", "预算决算", "审计报告", "固定资产清册", "银行对账单"]),
    ("KY", "科技", ["科研项目申报书", "技术鉴定", "专利文件", "实验记录", "设计图纸", "成果报告"]),
    ("JJ", "基建", ["工程合同", "竣工验收报告", "施工图", "招标文件", "监理日志", "结算书"]),
]
DEPARTMENTS = ["办公室", "人事处", "财务处", "科技处", "基建处", "后勤处", "档案馆", "法规处"]
ENGLISH = [
    "Annual Budget Report", "Board Meeting Minutes", "Employment Contract", "Bridge Design Drawings",
    "Audit Findings", "Procurement Tender", "Research Proposal", "Completion Acceptance Report",
    "Staff Appraisal Records", "Equipment Inventory", "Quality Inspection Report", "Patent Application",
]
CLASSIFICATIONS = ["public"] * 30 + ["internal"] * 40 + ["secret"] * 20 + ["confidential"] * 8 + ["top_secret"] * 2
MEDIA = ["paper"] * 6 + ["electronic"] * 3 + ["mixed"]
PERIODS = ["Y", "C", "D"]  # 永久 / 长期 / 短期
HEADER = ["archive_code", "barcode", "title", "description", "category", "classification",
          "medium", "location", "year", "pages"]


def rows(total, rng):
    counters = {}
    for n in range(total):
        prefix, category, kinds = rng.choice(CATEGORIES)
        year = rng.randint(1990, 2025)
        period = rng.choice(PERIODS)
        key = (prefix, year, period)
        counters[key] = counters.get(key, 0) + 1
        code = f"{prefix}-{year}-{period}-{counters[key]:04d}"
        kind = rng.choice(kinds)
        department = rng.choice(DEPARTMENTS)
        if rng.random() < 0.25:
            title = f"{rng.choice(ENGLISH)} {year} Vol. {rng.randint(1, 12)}"
            description = f"{department} {kind} — scanned {rng.choice(['copy', 'original', 'excerpt'])}"
        else:
            title = f"{year}年{department}{kind}（第{rng.randint(1, 12)}卷）"
            description = f"{department}{year}年度{kind}汇编，共{rng.randint(1, 30)}件"
        location = f"{rng.choice('ABCDEFGH')}-{rng.randint(1, 20):02d}-{rng.randint(1, 30):02d}-{rng.randint(1, 8):02d}"
        yield [code, f"B{n:09d}", title, description, category, rng.choice(CLASSIFICATIONS),
               rng.choice(MEDIA), location, year, rng.randint(1, 400)]


def main():
    out_dir, total = sys.argv[1], int(sys.argv[2])
    per_file = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(20261124)
    writer, handle, part = None, None, 0
    for i, row in enumerate(rows(total, rng)):
        if i % per_file == 0:
            if handle:
                handle.close()
            part += 1
            handle = open(os.path.join(out_dir, f"archives-{part:03d}.csv"), "w", newline="", encoding="utf-8")
            writer = csv.writer(handle)
            writer.writerow(HEADER)
        writer.writerow(row)
    if handle:
        handle.close()


if __name__ == "__main__":
    main()
