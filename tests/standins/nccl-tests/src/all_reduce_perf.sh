#!/bin/sh
# Stand-in for nccl-tests' all_reduce_perf (no GPU in the lab): prints its header and one result row per size,
# laid out as nccl-tests 2.19.6 prints them (src/util.cu), with the bus bandwidth in /run/nccl-standin/busbw
# (default 480.00) at every size and #wrong from /run/nccl-standin/wrong (default 0). Under srun only the first
# process prints results, as MPI rank 0 does. Every call is recorded in /run/nccl-standin/calls. Under
# NCCL_DEBUG=INFO every process logs the network NCCL would take, as NCCL and aws-ofi-nccl log it: libfabric's EFA
# provider when aws-ofi-nccl's plugin (libnccl-net.so) is in a directory of LD_LIBRARY_PATH and libfabric's fi_info
# finds EFA interfaces, TCP sockets otherwise.
min=8 max=8589934592 factor=2 gpus=1
while [ $# -gt 0 ]; do
    case "$1" in
        -b) min=$2; shift ;;
        -e) max=$2; shift ;;
        -f) factor=$2; shift ;;
        -g) gpus=$2; shift ;;
    esac
    shift
done
size() { case "$1" in *G) echo $(( ${1%G} * 1073741824 )) ;; *M) echo $(( ${1%M} * 1048576 )) ;; *K) echo $(( ${1%K} * 1024 )) ;; *) echo "$1" ;; esac; }
min=$(size "$min") max=$(size "$max")
mkdir -p /run/nccl-standin
echo "host=$(hostname) procid=${SLURM_PROCID:-none} ntasks=${SLURM_NTASKS:-1} gpus=$gpus max=$max" >> /run/nccl-standin/calls
if [ "${NCCL_DEBUG:-}" = INFO ]; then
    who="$(hostname):$$:$$ [0] NCCL INFO"
    plugin=
    for dir in $(echo "${LD_LIBRARY_PATH:-}" | tr ':' ' '); do
        [ -e "$dir/libnccl-net.so" ] && plugin=$dir/libnccl-net.so && break
    done
    nics=$(/opt/amazon/efa/bin/fi_info -p efa -t FI_EP_RDM 2>/dev/null | grep -c '^provider: efa')
    if [ -n "$plugin" ] && [ "${nics:-0}" -gt 0 ]; then
        echo "$who NET/OFI Initializing aws-ofi-nccl (lab stand-in)"
        echo "$who NET/OFI Selected provider is efa, fabric is efa (found $nics nics)"
        echo "$who Using network Libfabric"
    else
        echo "$who NET/Plugin: Could not find: libnccl-net.so. Using internal network plugin."
        echo "$who NET/Socket : Using [0]eth0"
        echo "$who Using network Socket"
    fi
fi
[ "${SLURM_PROCID:-0}" = 0 ] || exit 0
busbw=$(cat /run/nccl-standin/busbw 2>/dev/null || echo 480.00)
wrong=$(cat /run/nccl-standin/wrong 2>/dev/null || echo 0)
ranks=$(( ${SLURM_NTASKS:-1} * gpus ))
echo "# nccl-tests version 2.19.6 (lab stand-in)"
echo "# nThread 1 nGpus $gpus minBytes $min maxBytes $max step: $factor(factor) warmup iters: 1 iters: 20 agg iters: 1 validation: 1 graph: 0"
echo "#  $ranks ranks"
echo "#       size         count      type   redop    root     time   algbw   busbw  #wrong     time   algbw   busbw  #wrong "
n=$min
while [ "$n" -le "$max" ]; do
    printf '%12s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s\n' \
        "$n" $(( n / 4 )) float sum -1 100.00 1.00 "$busbw" "$wrong" 100.00 1.00 "$busbw" 0
    n=$(( n * factor ))
done
echo "# Out of bounds values : 0 OK"
echo "# Avg bus bandwidth    : $busbw"
