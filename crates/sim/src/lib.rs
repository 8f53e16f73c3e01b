//! clusterlab-sim
