using SharpSeek.Numerics;
using static SharpSeek.Numerics.Tests.GemmTestData;

namespace SharpSeek.Numerics.Tests;

/// <summary>Several threads may call kernels on one pool (a server's requests, parallel test classes): the pool
/// serialises runs, and kernels whose state spans runs (the shared-B GEMM pipeline, the FP8 GEMV's scaled x) must
/// not see another caller's runs in between.</summary>
public class SharedPoolTests
{
    [Fact]
    public void TwoCallers_InterleavingOnOnePool_EachGetTheirOwnResults()
    {
        using var pool = new WorkerPool(2);
        // Shared-B GEMM (M ≥ Threads·MC and M ≥ N, two K blocks) and FP8 GEMV (M = 1), each caller with its own inputs.
        int m = 2 * GemmDriver.MC + 7, n = 150, k = 2 * GemmDriver.KC + 20;
        int gn = 256, gk = 384;
        byte[] w = Fp8(gn * gk, 9);
        float[] scales = Floats(GemmArgs.Blocks(gn) * GemmArgs.Blocks(gk), 10);
        var callers = Enumerable.Range(0, 2).Select(id =>
        {
            float[] a = Floats(m * k, 100 + id), b = Floats(n * k, 200 + id), x = Floats(gk, 300 + id, scale: id + 1);
            float[] c = new float[m * n], y = new float[gn];
            Gemm.F32(pool, GemmLayout.NT, m, n, k, a, b, c);
            Gemm.Fp8Weights(pool, 1, gn, gk, x, w, scales, y);
            return (a, b, x, c, y);
        }).ToArray();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, id =>
        {
            var (a, b, x, c, y) = callers[id];
            float[] c2 = new float[c.Length], y2 = new float[y.Length];
            for (int i = 0; i < 40; i++)
            {
                Gemm.F32(pool, GemmLayout.NT, m, n, k, a, b, c2);
                for (int j = 0; j < 4; j++) Gemm.Fp8Weights(pool, 1, gn, gk, x, w, scales, y2);
                if (!c.AsSpan().SequenceEqual(c2)) failures.Add($"caller {id} GEMM iteration {i}");
                if (!y.AsSpan().SequenceEqual(y2)) failures.Add($"caller {id} GEMV iteration {i}");
            }
        });
        Assert.Empty(failures);
    }
}
