// ScheduleSimulator — runs a PipelineSchedule against op times and returns every device's timeline.
//
// Each device runs its ops in order; an op starts when the device is free and every work it depends on has
// finished — plus `Comm` when that work ran on another device (a point-to-point transfer that nothing hides).
// Comm = 0 is the DualPipe and zero-bubble analyses' assumption (communication fully overlapped); the closed
// forms hold there. An op's works all complete when the op ends (DualPipe sends after the compute chunk).
//
// Times follow the DualPipe README: F = forward chunk, B = *full* backward chunk (inputs + weights),
// W = backward-for-weights chunk (so backward-for-inputs takes B − W), F&B = a forward and a full backward chunk
// run mutually overlapped.
//
// Bubble = the largest idle time of any device over the step: max_d (makespan − busy_d).
namespace SharpSeek.Planner.Pipeline;

public sealed record OpTimes(double F, double B, double W, double FB, double Comm = 0)
{
    /// <summary>Backward for inputs: the full backward minus its weight-gradient part.</summary>
    public double BInput => B - W;

    public double Duration(OpKind kind) => kind switch
    {
        OpKind.Forward => F,
        OpKind.BackwardInput => BInput,
        OpKind.BackwardWeight => W,
        OpKind.Backward => B,
        _ => FB,
    };

    public void Validate()
    {
        if (!(F > 0) || !(B > 0) || !(W >= 0) || !(FB > 0) || !(Comm >= 0))
            throw new ArgumentException($"op times must be positive (got F {F}, B {B}, W {W}, F&B {FB}, comm {Comm}).");
        if (W > B) throw new ArgumentException($"W ({W}) is part of the full backward B ({B}) and cannot exceed it.");
    }

    /// <summary>Without a measured F&B, assume the overlap hides nothing: F&B = F + B.</summary>
    public static OpTimes WithSerialOverlap(double f, double b, double w) => new(f, b, w, f + b);
}

public readonly record struct OpTiming(int Device, int Index, PipelineOp Op, double Start, double End);

public sealed record SimulationResult(
    PipelineSchedule Schedule,
    OpTimes Times,
    IReadOnlyList<OpTiming>[] Timeline,
    double Makespan,
    double[] Busy,
    double[] Idle,
    int[] PeakActivations)
{
    /// <summary>max over devices of idle time within the step.</summary>
    public double Bubble => Idle.Max();
}

public static class ScheduleSimulator
{
    public static SimulationResult Run(PipelineSchedule schedule, OpTimes times)
    {
        times.Validate();
        int devices = schedule.Devices;
        var finish = new Dictionary<Work, double>(3 * schedule.MicroBatches * schedule.Stages);
        var timeline = new List<OpTiming>[devices];
        var next = new int[devices];
        var clock = new double[devices];
        var busy = new double[devices];
        for (int d = 0; d < devices; d++) timeline[d] = new List<OpTiming>(schedule.DeviceOps[d].Count);

        bool progress = true;
        while (progress)
        {
            progress = false;
            for (int d = 0; d < devices; d++)
            {
                var ops = schedule.DeviceOps[d];
                while (next[d] < ops.Count && ReadyAt(schedule, d, ops[next[d]], finish, times.Comm) is double ready)
                {
                    var op = ops[next[d]];
                    double start = Math.Max(clock[d], ready), end = start + times.Duration(op.Kind);
                    foreach (var w in op.Works) finish[w] = end;
                    timeline[d].Add(new OpTiming(d, next[d], op, start, end));
                    clock[d] = end;
                    busy[d] += end - start;
                    next[d]++;
                    progress = true;
                }
            }
        }
        for (int d = 0; d < devices; d++)
            if (next[d] < schedule.DeviceOps[d].Count)
                throw new InvalidOperationException(DeadlockMessage(schedule, next));

        double makespan = clock.Max();
        var idle = busy.Select(b => makespan - b).ToArray();
        return new SimulationResult(schedule, times, timeline, makespan, busy, idle, schedule.PeakActivations());
    }

    /// <summary>The time all of <paramref name="op"/>'s outside dependencies are done and, from other devices,
    /// delivered; null if one is not done yet.</summary>
    private static double? ReadyAt(PipelineSchedule schedule, int device, PipelineOp op, Dictionary<Work, double> finish, double comm)
    {
        double ready = 0;
        foreach (var w in op.Works)
            foreach (var dep in schedule.Dependencies(w))
            {
                if (Array.IndexOf(op.Works, dep) >= 0) continue; // satisfied inside this op (full backward)
                if (!finish.TryGetValue(dep, out double t)) return null;
                if (comm > 0 && schedule.StageDevice(dep.MicroBatch, dep.Stage) != device) t += comm;
                ready = Math.Max(ready, t);
            }
        return ready;
    }

    private static string DeadlockMessage(PipelineSchedule schedule, int[] next)
    {
        var blocked = Enumerable.Range(0, schedule.Devices)
            .Where(d => next[d] < schedule.DeviceOps[d].Count)
            .Select(d => $"device {d} at op {next[d]} {schedule.DeviceOps[d][next[d]]}");
        return $"{schedule.Kind}: the schedule deadlocks (a dependency cycle): {string.Join("; ", blocked.Take(6))}.";
    }
}

/// <summary>The DualPipe README's closed forms (PP = number of stages) and the regime where they are exact.</summary>
public static class ClosedForm
{
    public static double Bubble(ScheduleKind kind, int pp, OpTimes t) => kind switch
    {
        ScheduleKind.OneFOneB => (pp - 1) * (t.F + t.B),
        ScheduleKind.Zb1p => (pp - 1) * (t.F + t.B - 2 * t.W),
        _ => (pp / 2.0 - 1) * (t.FB + t.B - 3 * t.W),
    };

    public static string BubbleFormula(ScheduleKind kind) => kind switch
    {
        ScheduleKind.OneFOneB => "(PP-1)(F+B)",
        ScheduleKind.Zb1p => "(PP-1)(F+B-2W)",
        _ => "(PP/2-1)(F&B+B-3W)",
    };

    /// <summary>Peak activations per device in micro-batch-stage units: PP, or PP + 1 for DualPipe(V).</summary>
    public static int Activations(ScheduleKind kind, int pp) =>
        kind is ScheduleKind.DualPipe or ScheduleKind.DualPipeV ? pp + 1 : pp;

    /// <summary>Stages of parameters per device: 1×, or 2× for DualPipe(V).</summary>
    public static int ParameterCopies(ScheduleKind kind) =>
        kind is ScheduleKind.DualPipe or ScheduleKind.DualPipeV ? 2 : 1;

    /// <summary>Whether the closed-form bubble is exact for these times, and if not, why. The forms are derived
    /// for the figures' shapes: ZB1P needs W ≤ F and W ≤ B − W (otherwise W cannot fill a whole gap);
    /// DualPipe(V) assumes equal F and B-for-input chunks, W ≤ F and F + (B − W) ≤ F&B ≤ F + B.</summary>
    public static string? WhyNotExact(ScheduleKind kind, OpTimes t)
    {
        const double eps = 1e-9;
        switch (kind)
        {
            case ScheduleKind.OneFOneB: return null;
            case ScheduleKind.Zb1p:
                return t.W <= Math.Min(t.F, t.BInput) + eps ? null : "W exceeds F or B-W, so W passes cannot fill the warm-up gaps";
            default:
                if (Math.Abs(t.BInput - t.F) > eps) return "the closed form assumes B-for-input = F (equal chunk cells)";
                if (t.W > t.F + eps) return "the closed form assumes W <= F";
                if (t.FB < t.F + t.BInput - eps || t.FB > t.F + t.B + eps) return "the closed form assumes F+(B-W) <= F&B <= F+B";
                return null;
        }
    }
}
