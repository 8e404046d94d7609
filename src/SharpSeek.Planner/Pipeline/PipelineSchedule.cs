// PipelineSchedule — a pipeline-parallel training step as data: for every device, the ordered list of operations
// it runs, each naming the (pass, micro-batch, stage) work it performs and the point-to-point transfers it needs.
// No timing lives here: the simulator (ScheduleSimulator) adds F/B/W/F&B times, and the pipeline executor of the
// Distributed layer will walk the same lists, posting `Receives` before and `Sends` after each op's compute.
//
// Vocabulary (DualPipe README / zero-bubble paper):
//   stage s ∈ [0, S)    a contiguous slice of the model's layers; micro-batch m runs stages 0 … S−1 forward
//                       and S−1 … 0 backward. `StageDevice(m, s)` says which device runs stage s for m (DualPipe
//                       sends its second half of micro-batches through the devices in reverse; DualPipeV folds
//                       the S = 2·devices stages into a V).
//   F   forward of (m, s)                     needs F(m, s−1)
//   B   backward for inputs (dgrad) of (m, s)  needs F(m, s) and B(m, s+1) (or the loss, at s = S−1)
//   W   backward for weights (wgrad) of (m, s) needs B(m, s)
// Ops: Forward = [F]; BackwardInput = [B]; BackwardWeight = [W]; Backward = [B, W] (full backward, one kernel
// sequence); ForwardBackward = [F of one (m, s), B and W of another] run overlapped (DualPipe's F&B chunk).
namespace SharpSeek.Planner.Pipeline;

public enum ScheduleKind { OneFOneB, Zb1p, DualPipe, DualPipeV }

public enum Pass : byte { Forward, BackwardInput, BackwardWeight }

public enum OpKind : byte { Forward, BackwardInput, BackwardWeight, Backward, ForwardBackward }

/// <summary>One pass of one micro-batch through one stage.</summary>
public readonly record struct Work(Pass Pass, int MicroBatch, int Stage)
{
    public override string ToString() => $"{Pass switch { Pass.Forward => "F", Pass.BackwardInput => "B", _ => "W" }}{MicroBatch}@{Stage}";
}

public enum TransferKind : byte { Activation, Gradient }

/// <summary>A point-to-point message: the activation leaving stage <see cref="FromStage"/> forward, or the input
/// gradient leaving it backward, for micro-batch <see cref="MicroBatch"/>; <see cref="Peer"/> is the other device.</summary>
public readonly record struct Transfer(int Peer, TransferKind Kind, int MicroBatch, int FromStage)
{
    /// <summary>A message tag unique within one step of a schedule with <paramref name="stages"/> stages
    /// (MPI matches a receive to its send by source, tag and communicator).</summary>
    public int Tag(int stages) => (MicroBatch * stages + FromStage) * 2 + (int)Kind;
}

/// <summary>One operation of a device's program.</summary>
public sealed record PipelineOp(OpKind Kind, Work[] Works, Transfer[] Receives, Transfer[] Sends)
{
    /// <summary>Micro-batch activations (one micro-batch through one stage) this op allocates: one per F.</summary>
    public int ActivationsAllocated => Works.Count(w => w.Pass == Pass.Forward);

    /// <summary>Activations this op frees: a stage's activations are kept until its weight gradient is done.</summary>
    public int ActivationsFreed => Works.Count(w => w.Pass == Pass.BackwardWeight);

    public override string ToString() => $"{Kind}[{string.Join(",", Works)}]";
}

public sealed class PipelineSchedule
{
    public ScheduleKind Kind { get; }
    public int Devices { get; }
    public int Stages { get; }
    public int MicroBatches { get; }
    /// <summary>Ops of each device, in execution order.</summary>
    public IReadOnlyList<PipelineOp>[] DeviceOps { get; }

    // (m, s) -> device, stored per route: routes[route][stage]; routeOf[m].
    private readonly int[][] _routes;
    private readonly int[] _routeOf;

    internal PipelineSchedule(ScheduleKind kind, int devices, int stages, int microBatches, int[][] routes, int[] routeOf,
        IReadOnlyList<PipelineOp>[] deviceOps)
    {
        Kind = kind; Devices = devices; Stages = stages; MicroBatches = microBatches;
        _routes = routes; _routeOf = routeOf; DeviceOps = deviceOps;
    }

    public int StageDevice(int microBatch, int stage) => _routes[_routeOf[microBatch]][stage];

    /// <summary>Direction of a micro-batch: 0 enters at device 0; 1 (DualPipe's second half) enters at the last device.</summary>
    public int Direction(int microBatch) => _routeOf[microBatch];

    /// <summary>Micro-batch number within its direction (what the DualPipe figure prints).</summary>
    public int LocalIndex(int microBatch) => Kind == ScheduleKind.DualPipe && _routeOf[microBatch] == 1
        ? microBatch - MicroBatches / 2 : microBatch;

    /// <summary>Distinct stages (model slices of 1/S of the layers) whose parameters each device holds.</summary>
    public int StagesPerDevice
    {
        get
        {
            int max = 0;
            for (int d = 0; d < Devices; d++)
                max = Math.Max(max, DeviceOps[d].SelectMany(o => o.Works).Select(w => w.Stage).Distinct().Count());
            return max;
        }
    }

    /// <summary>Peak live micro-batch activations (of one stage each) on each device: allocated at F, freed after W.
    /// A property of the op order alone, independent of timing.</summary>
    public int[] PeakActivations()
    {
        var peak = new int[Devices];
        for (int d = 0; d < Devices; d++)
        {
            int live = 0;
            foreach (var op in DeviceOps[d])
            {
                peak[d] = Math.Max(peak[d], live + op.ActivationsAllocated);
                live += op.ActivationsAllocated - op.ActivationsFreed;
            }
        }
        return peak;
    }

    /// <summary>The works (m, s, pass) that <paramref name="w"/> waits for.</summary>
    public IEnumerable<Work> Dependencies(Work w)
    {
        switch (w.Pass)
        {
            case Pass.Forward:
                if (w.Stage > 0) yield return new Work(Pass.Forward, w.MicroBatch, w.Stage - 1);
                break;
            case Pass.BackwardInput:
                yield return new Work(Pass.Forward, w.MicroBatch, w.Stage);
                if (w.Stage < Stages - 1) yield return new Work(Pass.BackwardInput, w.MicroBatch, w.Stage + 1);
                break;
            default:
                yield return new Work(Pass.BackwardInput, w.MicroBatch, w.Stage);
                break;
        }
    }

    /// <summary>Checks that every (micro-batch, stage) runs F, B and W exactly once on the device that holds the
    /// stage, that transfers pair up, and that the per-device orders plus the data dependencies are acyclic
    /// (executing the programs cannot deadlock). Throws <see cref="InvalidOperationException"/> naming the problem.</summary>
    public void Validate()
    {
        var seen = new HashSet<Work>();
        for (int d = 0; d < Devices; d++)
            foreach (var op in DeviceOps[d])
                foreach (var w in op.Works)
                {
                    if (w.MicroBatch < 0 || w.MicroBatch >= MicroBatches || w.Stage < 0 || w.Stage >= Stages)
                        throw new InvalidOperationException($"{Kind}: device {d} runs {w}, outside {MicroBatches} micro-batches × {Stages} stages.");
                    if (StageDevice(w.MicroBatch, w.Stage) != d)
                        throw new InvalidOperationException($"{Kind}: device {d} runs {w}, but that stage lives on device {StageDevice(w.MicroBatch, w.Stage)}.");
                    if (!seen.Add(w)) throw new InvalidOperationException($"{Kind}: {w} is scheduled twice.");
                }
        long expected = 3L * MicroBatches * Stages;
        if (seen.Count != expected)
            throw new InvalidOperationException($"{Kind}: {seen.Count} works scheduled, expected F, B and W for each of {MicroBatches} × {Stages}.");

        var sends = new HashSet<(int From, int To, TransferKind Kind, int MicroBatch, int FromStage)>();
        for (int d = 0; d < Devices; d++)
            foreach (var op in DeviceOps[d])
                foreach (var t in op.Sends) sends.Add((d, t.Peer, t.Kind, t.MicroBatch, t.FromStage));
        int receives = 0;
        for (int d = 0; d < Devices; d++)
            foreach (var op in DeviceOps[d])
                foreach (var t in op.Receives)
                {
                    receives++;
                    if (!sends.Contains((t.Peer, d, t.Kind, t.MicroBatch, t.FromStage)))
                        throw new InvalidOperationException($"{Kind}: device {d} receives {t} that device {t.Peer} never sends to it.");
                }
        if (receives != sends.Count) throw new InvalidOperationException($"{Kind}: {sends.Count} sends but {receives} receives.");

        // Acyclicity == the programs run to completion when each op waits for its dependencies.
        ScheduleSimulator.Run(this, new OpTimes(1, 2, 1, 3));
    }
}
