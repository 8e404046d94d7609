// CausalAttentionReference — the naive twin of CausalAttention: one (sequence, head), row by row, with the
// formulas written out (see CausalAttention.cs for shapes). The test oracle; not used on any hot path.
namespace SharpSeek.Numerics;

public static unsafe class CausalAttentionReference
{
    /// <summary>O and, when <c>a.P</c> is set, P rows (zero past each row's causal context up to L).</summary>
    public static void Forward(in CausalAttentionArgs a)
    {
        var p = new float[a.L];
        for (int i = 0; i < a.Lq; i++)
        {
            Row(a, i, p);
            for (int e = 0; e < a.Dv; e++)
            {
                float o = 0f;
                for (int j = 0; j < a.L; j++) o += p[j] * a.V[j * a.LdV + e];
                a.O[i * a.LdO + e] = o;
            }
            if (a.P is not null)
                for (int j = 0; j < a.L; j++) a.P[i * a.LdP + j] = p[j];
        }
    }

    /// <summary>dQ, dK (both parts), dV (overwritten), with P recomputed from Q and K.</summary>
    public static void Backward(in CausalAttentionArgs a)
    {
        int dk2 = a.Dq - a.Dk1;
        for (int j = 0; j < a.L; j++)
        {
            for (int c = 0; c < a.Dk1; c++) a.DK1[j * a.LdDK1 + c] = 0f;
            for (int c = 0; c < dk2; c++) a.DK2[j * a.LdDK2 + c] = 0f;
            for (int e = 0; e < a.Dv; e++) a.DV[j * a.LdDV + e] = 0f;
        }
        var p = new float[a.L];
        var ds = new float[a.L];
        for (int i = 0; i < a.Lq; i++)
        {
            Row(a, i, p);
            float* dO = a.DO + i * a.LdDO, q = a.Q + i * a.LdQ, dq = a.DQ + i * a.LdDQ;
            float dot = 0f;                                   // Σ_j p_j dp_j
            for (int j = 0; j < a.L; j++)
            {
                float dp = 0f;
                for (int e = 0; e < a.Dv; e++) dp += dO[e] * a.V[j * a.LdV + e];
                ds[j] = dp;
                dot += p[j] * dp;
            }
            for (int j = 0; j < a.L; j++) ds[j] = p[j] * (ds[j] - dot) * a.Scale;
            for (int c = 0; c < a.Dq; c++)
            {
                float s = 0f;
                for (int j = 0; j < a.L; j++) s += ds[j] * K(a, j, c);
                dq[c] = s;
            }
            for (int j = 0; j < a.L; j++)
            {
                for (int c = 0; c < a.Dk1; c++) a.DK1[j * a.LdDK1 + c] += ds[j] * q[c];
                for (int c = 0; c < dk2; c++) a.DK2[j * a.LdDK2 + c] += ds[j] * q[a.Dk1 + c];
                for (int e = 0; e < a.Dv; e++) a.DV[j * a.LdDV + e] += p[j] * dO[e];
            }
        }
    }

    private static float K(in CausalAttentionArgs a, int j, int c) =>
        c < a.Dk1 ? a.K1[j * a.LdK1 + c] : a.K2[j * a.LdK2 + c - a.Dk1];

    /// <summary>p (L) = softmax over j ≤ q0 + i of (q_i · k_j) · scale, zero after.</summary>
    private static void Row(in CausalAttentionArgs a, int i, float[] p)
    {
        int len = a.L - a.Lq + i + 1;
        float max = float.NegativeInfinity;
        for (int j = 0; j < len; j++)
        {
            float s = 0f;
            for (int c = 0; c < a.Dq; c++) s += a.Q[i * a.LdQ + c] * K(a, j, c);
            p[j] = s * a.Scale;
            max = Math.Max(max, p[j]);
        }
        float sum = 0f;
        for (int j = 0; j < len; j++) sum += p[j] = MathF.Exp(p[j] - max);
        for (int j = 0; j < a.L; j++) p[j] = j < len ? p[j] / sum : 0f;
    }
}
