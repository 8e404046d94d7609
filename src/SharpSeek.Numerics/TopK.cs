// Top-k selection: the k largest values of a row with their indices, in descending order; equal values keep the
// lower index first (deterministic routing). NaN ranks as −inf. Sized for MoE routing (k ≤ ~16 of ≤ ~256 experts):
// the first k values are insertion-sorted, then the rest are scanned a vector at a time against the current k-th
// value and only lanes that beat it are inserted — after a short warm-up almost every vector is skipped.
using System.Runtime.CompilerServices;

namespace SharpSeek.Numerics;

public static unsafe class TopK
{
    /// <summary>topValues (k), topIndices (k) = the k largest of values (n), descending, ties to the lower index.</summary>
    public static void Select(ReadOnlySpan<float> values, int k, Span<float> topValues, Span<int> topIndices) =>
        Rows(1, values.Length, k, values, topValues, topIndices, Simd.Active);

    /// <summary>For each row of values (rows, n): topValues (rows, k), topIndices (rows, k).</summary>
    public static void Rows(int rows, int n, int k, ReadOnlySpan<float> values, Span<float> topValues, Span<int> topIndices,
        WorkerPool? pool = null) => Rows(rows, n, k, values, topValues, topIndices, Simd.Active, pool);

    public static void Rows(int rows, int n, int k, ReadOnlySpan<float> values, Span<float> topValues, Span<int> topIndices,
        SimdLevel level, WorkerPool? pool = null)
    {
        if (k < 0 || k > n)
            throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in 0..n (n = {n}).");
        RowChecks.Matrix(rows, n, values.Length, nameof(values));
        RowChecks.Matrix(rows, k, topValues.Length, nameof(topValues));
        RowChecks.Matrix(rows, k, topIndices.Length, nameof(topIndices));
        if (k == 0) return;
        fixed (float* pv = values) fixed (float* ptv = topValues) fixed (int* pti = topIndices)
        {
            var job = new Job { N = n, K = k, Values = pv, TopValues = ptv, TopIndices = pti };
            RowsDispatch.Run(pool, level, rows, (long)n * k / 4, ref job);
        }
    }

    private struct Job : IRowsJob
    {
        public int N, K;
        public float* Values;       // (rows, N)
        public float* TopValues;    // (rows, K)
        public int* TopIndices;     // (rows, K)

        [SkipLocalsInit]
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run<V>(long begin, long end) where V : unmanaged, IVec<V>
        {
            int n = N, k = K;
            float* keys = stackalloc float[k];     // ranking keys of the kept values (NaN -> −inf), descending
            for (long r = begin; r < end; r++)
            {
                float* x = Values + r * n, topV = TopValues + r * k;
                int* topI = TopIndices + r * k;
                int count = 0;
                for (int i = 0; i < k; i++) Insert(keys, topV, topI, ref count, k, x[i], i);
                int j = k;
                for (; j <= n - V.Count; j += V.Count)
                {
                    uint mask = V.GreaterThanMask(V.Load(x + j), V.Broadcast(keys[k - 1]));
                    while (mask != 0)
                    {
                        int lane = System.Numerics.BitOperations.TrailingZeroCount(mask);
                        mask &= mask - 1;
                        if (x[j + lane] > keys[k - 1]) Insert(keys, topV, topI, ref count, k, x[j + lane], j + lane);
                    }
                }
                for (; j < n; j++)
                    if (x[j] > keys[k - 1]) Insert(keys, topV, topI, ref count, k, x[j], j);
            }
        }

        /// <summary>Inserts (value, index) after every kept key ≥ its key (so equal keys keep the lower index first),
        /// dropping the last entry when full.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Insert(float* keys, float* values, int* indices, ref int count, int k, float value, int index)
        {
            float key = float.IsNaN(value) ? float.NegativeInfinity : value;
            int pos = count < k ? count : k - 1;
            while (pos > 0 && keys[pos - 1] < key)
            {
                keys[pos] = keys[pos - 1]; values[pos] = values[pos - 1]; indices[pos] = indices[pos - 1];
                pos--;
            }
            keys[pos] = key; values[pos] = value; indices[pos] = index;
            if (count < k) count++;
        }
    }
}
