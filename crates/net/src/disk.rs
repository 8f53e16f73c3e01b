//! Disk abstraction for nodes.conf and the AOF. (Owner: driver helper.)
