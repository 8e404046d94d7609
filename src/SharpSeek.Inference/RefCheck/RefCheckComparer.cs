// RefCheckComparer — a response against golden.json with the golden's tolerances (README § Tolerances):
//   FP32 class: max |Δ| ≤ max_abs, relative RMS ≤ rel_rms, argmax equal wherever the golden's top-1/top-2 margin
//               exceeds the threshold.
//   BF16 class: relative RMS ≤ rel_rms, mean KL(softmax(golden) ‖ softmax(ours)) ≤ kl_mean, argmax as above.
//   relative RMS = sqrt(mean((a-b)²)) / sqrt(mean(b²)) over all rows.
using System.Text.Json;

namespace SharpSeek.Inference.RefCheck;

public sealed record LogitsComparison(string Name, int Rows, double MaxAbs, double RelRms, double KlMean,
    int ArgmaxChecked, int ArgmaxMismatches, bool Passed, string Verdict);

public static class RefCheckComparer
{
    public static IReadOnlyList<LogitsComparison> Compare(RefCheckResponse response, RefCheckGolden golden, string precision)
    {
        var list = new List<LogitsComparison>
        {
            CompareOne("decode", response.DecodeLogits, golden.Decode, golden.Tolerances, precision),
            CompareOne("full", response.FullLogits, golden.Full, golden.Tolerances, precision),
        };
        if (golden.Mtp is not null)
            list.Add(CompareOne("mtp", response.MtpLogits ?? [], golden.Mtp, golden.Tolerances, precision));
        return list;
    }

    public static LogitsComparison CompareOne(string name, float[][] ours, double[][] gold, JsonElement tolerances, string precision)
    {
        JsonElement tol = tolerances.GetProperty(precision == "bf16" ? "bf16" : "fp32");
        double marginGate = tol.GetProperty("argmax_must_match_if_ref_margin_gt").GetDouble();
        if (ours.Length != gold.Length)
            return new LogitsComparison(name, ours.Length, double.NaN, double.NaN, double.NaN, 0, 0, false,
                $"{ours.Length} rows, golden has {gold.Length}");
        double maxAbs = 0, se = 0, sg = 0, kl = 0;
        long count = 0;
        int checkedRows = 0, mismatches = 0;
        for (int r = 0; r < gold.Length; r++)
        {
            if (ours[r].Length != gold[r].Length)
                return new LogitsComparison(name, ours.Length, double.NaN, double.NaN, double.NaN, 0, 0, false,
                    $"row {r} has {ours[r].Length} logits, golden {gold[r].Length}");
            for (int v = 0; v < gold[r].Length; v++)
            {
                double d = ours[r][v] - gold[r][v];
                if (!(Math.Abs(d) <= maxAbs)) maxAbs = double.IsNaN(d) ? double.NaN : Math.Max(maxAbs, Math.Abs(d));
                se += d * d;
                sg += gold[r][v] * gold[r][v];
                count++;
            }
            kl += Kl(gold[r], ours[r]);
            var (top1, margin) = Top(gold[r]);
            if (margin > marginGate)
            {
                checkedRows++;
                if (ArgMax(ours[r]) != top1) mismatches++;
            }
        }
        double relRms = Math.Sqrt(se / Math.Max(1, count)) / Math.Sqrt(sg / Math.Max(1, count));
        double klMean = kl / Math.Max(1, gold.Length);
        bool ok = mismatches == 0 && relRms <= tol.GetProperty("rel_rms").GetDouble();
        if (tol.TryGetProperty("max_abs", out var ma)) ok &= maxAbs <= ma.GetDouble();
        if (tol.TryGetProperty("kl_mean", out var km)) ok &= klMean <= km.GetDouble();
        return new LogitsComparison(name, gold.Length, maxAbs, relRms, klMean, checkedRows, mismatches, ok, ok ? "pass" : "FAIL");
    }

    private static double Kl(double[] p, float[] q)
    {
        double mp = p.Max(), mq = q.Max(), zp = 0, zq = 0;
        foreach (double v in p) zp += Math.Exp(v - mp);
        foreach (float v in q) zq += Math.Exp(v - mq);
        double lzp = Math.Log(zp) + mp, lzq = Math.Log(zq) + mq, kl = 0;
        for (int i = 0; i < p.Length; i++)
        {
            double lp = p[i] - lzp, lq = q[i] - lzq;
            kl += Math.Exp(lp) * (lp - lq);
        }
        return kl;
    }

    private static (int Top1, double Margin) Top(double[] row)
    {
        int a = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[a]) a = i;
        double second = double.NegativeInfinity;
        for (int i = 0; i < row.Length; i++) if (i != a && row[i] > second) second = row[i];
        return (a, row[a] - second);
    }

    private static int ArgMax(float[] row)
    {
        int a = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[a]) a = i;
        return a;
    }
}
