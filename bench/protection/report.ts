/** The human-readable tables of the protection benchmark. */
import type { RecognizerId } from '../../src/engine/faces/types.ts';
import { formatTable, num, pct, pctPm } from '../lib/table.ts';
import type { Cell, QualitySummary } from './evaluate.ts';

export interface ReportInput {
  cloakers: readonly { id: string; describe: string }[];
  defenses: readonly string[];
  recognizers: readonly RecognizerId[];
  cells: readonly Cell[];
  quality: Record<string, QualitySummary>;
  thresholds: Partial<Record<RecognizerId, { value: number; source: string }>>;
  cleanCloaker?: string;
}

function qualityLine(q: QualitySummary | undefined): string {
  if (!q) return 'quality: n/a';
  return (
    `quality vs original (${q.photos} photos): SSIM whole ${num(q.ssimWholeMean)} (min ${num(q.ssimWholeMin)}), ` +
    `face ${num(q.ssimFaceMean)} (min ${num(q.ssimFaceMin)}); PSNR whole ${num(q.psnrWholeMean, 1)} dB, ` +
    `face ${num(q.psnrFaceMean, 1)} dB; file size x${num(q.bytesRatioMean, 2)}`
  );
}

export function renderReport(input: ReportInput): string {
  const clean = input.cleanCloaker ?? 'none';
  const find = (cloaker: string, rec: RecognizerId, defense: string) =>
    input.cells.find((c) => c.cloaker === cloaker && c.recognizer === rec && c.defense === defense);
  const sections: string[] = [];
  for (const cloaker of input.cloakers) {
    const withBaseline = cloaker.id !== clean;
    const header = ['recognizer', 'defense', 'evaded', 'not det.', 'mean sim', 'prot@1', 'prot@5'];
    if (withBaseline) header.push('clean evaded', 'clean prot@1', 'clean prot@5');
    const rows: string[][] = [];
    for (const rec of input.recognizers) {
      for (const defense of input.defenses) {
        const c = find(cloaker.id, rec, defense);
        if (!c) continue;
        const row = [
          rec,
          defense,
          pct(c.evasion.rate),
          String(c.evasion.notDetected),
          num(c.evasion.meanSimilarity),
          pctPm(c.protectionTop1.mean, c.protectionTop1.std),
          pctPm(c.protectionTop5.mean, c.protectionTop5.std),
        ];
        if (withBaseline) {
          const b = find(clean, rec, defense);
          row.push(
            b ? pct(b.evasion.rate) : 'n/a',
            b ? pctPm(b.protectionTop1.mean, b.protectionTop1.std) : 'n/a',
            b ? pctPm(b.protectionTop5.mean, b.protectionTop5.std) : 'n/a',
          );
        }
        rows.push(row);
      }
    }
    sections.push(
      [
        `== cloaker ${cloaker.id}: ${cloaker.describe}`,
        qualityLine(input.quality[cloaker.id]),
        formatTable(header, rows),
      ].join('\n'),
    );
  }
  const thresholds = input.recognizers
    .map((rec) => {
      const t = input.thresholds[rec];
      return t ? `${rec} ${t.value.toFixed(4)} (${t.source})` : `${rec} n/a`;
    })
    .join('; ');
  const legend = [
    `thresholds (cosine, 1% FAR): ${thresholds}`,
    'evaded = cloaked(+defended) face below the threshold vs the same photo\'s clean face, or not re-detected (count in "not det.");',
    'prot@k = 1 - top-k accuracy of the user\'s clean probes against a gallery of the user\'s cloaked(+defended) photos and',
    'the other identities\' uncloaked photos with the same defense; nearest neighbour, per-photo max cosine; mean±std over seeds.',
    'The clean columns are cloaker "none" with the same recognizer and defense: what protection there is without any cloak.',
  ].join('\n');
  return [...sections, legend].join('\n\n');
}
