// LatentAttentionReference — the oracle of LatentAttention: for each row and head, the scores over the whole context
// in FP64, one softmax, o_c = Σ_j p_j · c_kv[j] in FP64, rounded to FP32 once. No blocks, chunks or online softmax.
namespace SharpSeek.Numerics;

public static unsafe class LatentAttentionReference
{
    /// <summary>o_c for every head and row, as <see cref="LatentAttention.Forward"/> defines it.</summary>
    public static void Forward(in LatentAttentionArgs a, ReadOnlySpan<LatentRow> rows)
    {
        foreach (var row in rows)
        {
            var s = new double[row.Length];
            var o = new double[a.Rkv];
            for (int h = 0; h < a.Heads; h++)
            {
                float* qc = a.Qc + h * a.QcHead + (long)row.Row * a.QcRow, qpe = a.Qpe + h * a.QpeHead + (long)row.Row * a.QpeRow;
                double max = double.NegativeInfinity;
                for (int j = 0; j < row.Length; j++)
                {
                    double dot = 0;
                    for (int k = 0; k < a.Rkv; k++) dot += (double)qc[k] * row.Ckv[(long)j * a.Rkv + k];
                    for (int k = 0; k < a.Dr; k++) dot += (double)qpe[k] * row.Kpe[(long)j * a.Dr + k];
                    s[j] = dot * a.Scale;
                    max = Math.Max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < row.Length; j++) sum += s[j] = Math.Exp(s[j] - max);
                Array.Clear(o);
                for (int j = 0; j < row.Length; j++)
                    for (int k = 0; k < a.Rkv; k++) o[k] += s[j] / sum * row.Ckv[(long)j * a.Rkv + k];
                float* dst = a.O + h * a.OHead + (long)row.Row * a.ORow;
                for (int k = 0; k < a.Rkv; k++) dst[k] = (float)o[k];
            }
        }
    }
}
