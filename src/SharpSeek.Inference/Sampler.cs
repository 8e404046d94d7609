// Sampler — next token from logits: greedy at temperature 0, else softmax(logits / T) restricted to the top-k
// tokens and then to the smallest prefix of them whose probability reaches top-p (nucleus), drawn with a seeded
// generator (same seed, same logits -> same tokens).
namespace SharpSeek.Inference;

public sealed record SamplingOptions(double Temperature = 0, double TopP = 1.0, int TopK = 0, int Seed = 0)
{
    public void Validate()
    {
        if (!(Temperature >= 0)) throw new ArgumentException($"--temperature must be >= 0 (got {Temperature}).");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"--top-p must be in (0, 1] (got {TopP}).");
        if (TopK < 0) throw new ArgumentException($"--top-k must be >= 0 (0 = off; got {TopK}).");
    }
}

public sealed class Sampler
{
    private readonly SamplingOptions _o;
    private readonly Random _rng;
    private int[] _order = [];
    private float[] _keys = [];
    private double[] _weights = [];

    public Sampler(SamplingOptions options)
    {
        options.Validate();
        _o = options;
        _rng = new Random(options.Seed);
    }

    /// <summary>Next token; allocates nothing after the first call for a vocabulary size.</summary>
    public int Next(ReadOnlySpan<float> logits)
    {
        if (_o.Temperature == 0) return ArgMax(logits);
        int v = logits.Length;
        if (_order.Length != v) { _order = new int[v]; _keys = new float[v]; _weights = new double[v]; }
        int keep;
        if (_o.TopK > 0 && _o.TopK < v)
        {
            keep = SelectTopK(logits, _o.TopK);
            if (keep == 0) return ArgMax(logits);       // every logit NaN
        }
        else
        {
            for (int i = 0; i < v; i++) { _order[i] = i; _keys[i] = -logits[i]; }
            Array.Sort(_keys, _order);                  // descending logits (deterministic for equal inputs)
            keep = v;
        }
        double max = -_keys[0], sum = 0;
        Span<double> p = _weights.AsSpan(0, keep);
        for (int i = 0; i < keep; i++) sum += p[i] = Math.Exp((-_keys[i] - max) / _o.Temperature);
        double cum = 0;
        int n = 0;
        while (n < keep)
        {
            cum += p[n] / sum;
            n++;
            if (cum >= _o.TopP) break;
        }
        double total = 0;
        for (int i = 0; i < n; i++) total += p[i];
        double u = _rng.NextDouble() * total;
        for (int i = 0; i < n; i++)
        {
            u -= p[i];
            if (u <= 0) return _order[i];
        }
        return _order[n - 1];
    }

    /// <summary>The k largest logits (NaN never taken) into _keys / _order [0, k) as the full sort would place
    /// them — descending, equal logits by lower index — by insertion into a sorted prefix: one pass over the
    /// vocabulary plus ≈ k·ln(V/k) insertions, not a sort of all V (129K for DeepSeek-V3) per token.
    /// Returns how many were found (fewer than k only when the logits hold fewer non-NaN values).</summary>
    private int SelectTopK(ReadOnlySpan<float> logits, int k)
    {
        int n = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float key = -logits[i];                     // ascending keys = descending logits
            if (float.IsNaN(key) || (n == k && !(key < _keys[k - 1]))) continue;
            int at = n == k ? k - 1 : n++;
            for (; at > 0 && key < _keys[at - 1]; at--) { _keys[at] = _keys[at - 1]; _order[at] = _order[at - 1]; }
            _keys[at] = key;
            _order[at] = i;
        }
        return n;
    }

    public static int ArgMax(ReadOnlySpan<float> x)
    {
        int a = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[a]) a = i;
        return a;
    }
}
